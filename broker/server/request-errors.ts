/**
 * How failures become the FlotillaErrors that clients and brokers are answered with: a stable code
 * on every answer, and INTERNAL (a bug of ours, logged) for anything that is not ours.
 */
import type { Logger } from "pino";
import { DecodeError } from "../../protocol/decode-error.js";
import { FlotillaError } from "../../protocol/errors.js";

/** Any error as the FlotillaError a client gets; anything not ours is INTERNAL. */
export function asFlotillaError(e: unknown): FlotillaError {
  if (e instanceof FlotillaError) return e;
  if (e instanceof DecodeError) return new FlotillaError("INVALID_REQUEST", e.message, { cause: e });
  return new FlotillaError("INTERNAL", `internal error: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** A client request's failure as the error it is answered with; an INTERNAL one is logged. */
export function clientError(logger: Logger, e: unknown, what: string): FlotillaError {
  const fe = asFlotillaError(e);
  if (fe.code === "INTERNAL") logger.error({ err: e }, `${what} failed`);
  return fe;
}

/** Bus request failures (NATS's, or the in-process bus's, which carry the same codes) as FlotillaErrors: nobody listening means no controller leader right now. */
export function natsRequestError(e: unknown, what: string): FlotillaError {
  if (e instanceof FlotillaError) return e;
  const code = String((e as { code?: unknown })?.code ?? "");
  const message = (e as Error)?.message ?? String(e);
  if (code === "503" || /no responders/i.test(message)) return new FlotillaError("NOT_CONTROLLER", `${what}: no controller leader is reachable right now`);
  if (code === "TIMEOUT" || /timeout/i.test(message)) return new FlotillaError("TIMEOUT", `${what}: timed out`);
  return new FlotillaError("INTERNAL", `${what}: ${message}`, { cause: e });
}

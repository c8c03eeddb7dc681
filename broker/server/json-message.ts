/**
 * The envelope of the brokers' small JSON messages (controller requests, fault control): bounded
 * size, strict UTF-8, one JSON object carrying a wire version `v`. Anything else is a typed error
 * that names the kind of message, never a crash.
 */
import { FlotillaError } from "../../protocol/errors.js";

const decoder = new TextDecoder("utf-8", { fatal: true });

export interface JsonMessageKind {
  /** Names the message in errors, e.g. "controller message". */
  readonly what: string;
  readonly maxBytes: number;
  readonly version: number;
}

export function parseJsonMessage(bytes: Uint8Array, kind: JsonMessageKind): Record<string, unknown> {
  const bad = (why: string): never => {
    throw new FlotillaError("INVALID_REQUEST", `${kind.what}: ${why}`);
  };
  if (!(bytes instanceof Uint8Array)) bad("not bytes");
  if (bytes.length > kind.maxBytes) bad(`${bytes.length} bytes, at most ${kind.maxBytes}`);
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(bytes));
  } catch {
    bad("not UTF-8 JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) bad("not a JSON object");
  const o = v as Record<string, unknown>;
  if (o.v !== kind.version) throw new FlotillaError("UNSUPPORTED_VERSION", `${kind.what}: version ${String(o.v)}, this broker speaks ${kind.version}`);
  return o;
}

/**
 * Errors the client reports. Everything a broker says is a `FlotillaError` with its `code` from
 * `protocol/errors.ts`; NATS-level failures are mapped onto the same codes here, in one place:
 *
 * - "no responders" on a partition subject: nobody leads the partition right now → NO_LEADER
 *   (retriable: an election is under way, or the topic's replicas are still starting);
 * - "no responders" on a group subject: no broker coordinates the group right now (the offsets
 *   partition is electing a leader, or `__consumer_offsets` does not exist yet) → NOT_COORDINATOR;
 * - "no responders" on the admin/metadata subject: no broker of this cluster is connected to this
 *   NATS server → NO_LEADER too (retriable: brokers may be starting), with a message that says so;
 * - a request timeout → TIMEOUT (retriable);
 * - not being able to reach NATS at all → `FlotillaConnectionError` (not retriable).
 */
import { FlotillaError } from "../protocol/errors.js";

export { FlotillaError, isRetriable, ErrorCode, type ErrorCodeName } from "../protocol/errors.js";

/** The NATS server could not be reached, or the connection is closed. Not retriable. */
export class FlotillaConnectionError extends FlotillaError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("INTERNAL", message, options);
    this.name = "FlotillaConnectionError";
  }
}

/** What a request was for, so a NATS failure can be explained. */
export interface RequestTarget {
  /** "partition": produce/fetch on a partition subject; "group": a group's coordinator; "cluster": admin or metadata. */
  kind: "partition" | "group" | "cluster";
  subject: string;
  /** For people: "produce to orders/3". */
  what: string;
}

/** A NATS error (or anything thrown by a request) as the FlotillaError callers see. */
export function fromNatsError(e: unknown, target: RequestTarget, cluster: string): FlotillaError {
  if (e instanceof FlotillaError) return e;
  const code = String((e as { code?: unknown })?.code ?? "");
  const message = (e as Error)?.message ?? String(e);
  if (code === "503" || /no responders/i.test(message)) {
    if (target.kind === "group") {
      return new FlotillaError("NOT_COORDINATOR", `${target.what}: no broker coordinates this group right now (no responders on ${target.subject})`, { cause: e });
    }
    return target.kind === "partition"
      ? new FlotillaError("NO_LEADER", `${target.what}: no broker leads this partition right now (no responders on ${target.subject})`, { cause: e })
      : new FlotillaError(
          "NO_LEADER",
          `${target.what}: no broker of cluster "${cluster}" answers on this NATS server (no responders on ${target.subject}); start one with \`flotilla dev\`, or check --nats and --cluster`,
          { cause: e },
        );
  }
  if (code === "TIMEOUT" || /timeout/i.test(message)) return new FlotillaError("TIMEOUT", `${target.what}: no answer in time`, { cause: e });
  if (code === "CONNECTION_CLOSED" || /closed/i.test(message)) {
    return new FlotillaConnectionError(`${target.what}: the NATS connection is closed (did you disconnect?)`, { cause: e });
  }
  return new FlotillaError("INTERNAL", `${target.what}: ${message}`, { cause: e });
}

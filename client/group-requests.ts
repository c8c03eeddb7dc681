/**
 * Requests to a group's coordinator (the leader of the group's `__consumer_offsets` partition),
 * retried with backoff while there is none. `__consumer_offsets` is created on first need: when
 * nobody coordinates the group, the same request goes once to the admin subject, whose broker
 * creates the topic if it is missing and answers NOT_COORDINATOR (retriable); the retry then
 * reaches the new coordinator.
 */
import { FlotillaError } from "../protocol/errors.js";
import { groupPartition } from "../protocol/groups.js";
import type { RequestMap, RequestType, ResponseMap } from "../protocol/requests.js";
import type { ClientContext } from "./context.js";
import { retry, type RetryOptions } from "./retry.js";
import type { Rpc } from "./rpc.js";

/**
 * How long a coordinator request waits for its answer (at most the client's request timeout): a
 * coordinator killed with the request in hand never answers, and a commit stuck waiting would
 * hold up every commit behind it.
 */
const COORDINATOR_TIMEOUT_MS = 5000;

export interface GroupCallOptions {
  retry?: RetryOptions;
  timeoutMs?: number;
}

/** A request about `groupId`, to its coordinator. */
export function groupCall<K extends RequestType>(
  ctx: ClientContext,
  rpc: Rpc,
  type: K,
  groupId: string,
  request: RequestMap[K],
  options: GroupCallOptions = {},
): Promise<ResponseMap[K]> {
  return coordinatorCall(ctx, rpc, type, groupPartition(groupId), `group ${groupId}`, request, options);
}

/** A request to the coordinator of one `__consumer_offsets` partition (listGroups asks each). */
export async function coordinatorCall<K extends RequestType>(
  ctx: ClientContext,
  rpc: Rpc,
  type: K,
  offsetsPartition: number,
  what: string,
  request: RequestMap[K],
  options: GroupCallOptions = {},
): Promise<ResponseMap[K]> {
  const timeoutMs = options.timeoutMs ?? Math.min(ctx.requestTimeoutMs, COORDINATOR_TIMEOUT_MS);
  const target = rpc.coordinatorTarget(type, offsetsPartition, what);
  return retry(
    async () => {
      try {
        return await rpc.call(type, target, request, timeoutMs);
      } catch (e) {
        if (!(e instanceof FlotillaError) || e.code !== "NOT_COORDINATOR") throw e;
        return await rpc.call(type, rpc.adminTarget(type), request, timeoutMs);
      }
    },
    options.retry ?? ctx.retry,
    {},
    ctx.env,
  );
}

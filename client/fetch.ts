/**
 * A plain fetch: records of one partition from an offset, without a consumer group. The leader
 * answers with whole record batches (Kafka RecordBatch v2, as stored); they are decoded here,
 * client side, and records before the requested offset (a batch may start earlier) are dropped.
 */
import { FlotillaError } from "../protocol/errors.js";
import { forEachRecord, iterateBatches } from "../protocol/record-batch.js";
import { MESSAGE_OVERHEAD_BYTES } from "../protocol/requests.js";
import { topicNameProblem } from "../protocol/subjects.js";
import { fromRecordHeaders } from "./bytes.js";
import type { ClientContext } from "./context.js";
import { MetadataCache } from "./metadata.js";
import type { ReplicaChoice } from "./replica-choice.js";
import { retry } from "./retry.js";
import type { Rpc } from "./rpc.js";
import type { FetchedRecord, FetchOptions, FetchResult } from "./types.js";

/** How long past maxWaitMs a fetch waits for its answer before retrying. */
const FETCH_ANSWER_MARGIN_MS = 5000;

export const FETCH_DEFAULTS = { maxBytes: 1 << 20, maxWaitMs: 500, minBytes: 1 } as const;

/** Checks fetch options; one error naming every problem. */
export function checkFetchOptions(o: FetchOptions): { offset: bigint; maxBytes: number; maxWaitMs: number; minBytes: number } {
  const problems: string[] = [];
  const tp = typeof o?.topic === "string" ? topicNameProblem(o.topic) : "topic must be a string";
  if (tp) problems.push(tp);
  if (!Number.isInteger(o?.partition) || o.partition < 0) problems.push(`partition ${String(o?.partition)} must be an integer ≥ 0`);
  let offset = -1n;
  if (typeof o?.offset === "bigint") offset = o.offset;
  else if (typeof o?.offset === "number" && Number.isSafeInteger(o.offset)) offset = BigInt(o.offset);
  if (offset < 0n) problems.push(`offset ${String(o?.offset)} must be an integer ≥ 0 (a bigint)`);
  const maxBytes = o?.maxBytes ?? FETCH_DEFAULTS.maxBytes;
  const maxWaitMs = o?.maxWaitMs ?? FETCH_DEFAULTS.maxWaitMs;
  const minBytes = o?.minBytes ?? FETCH_DEFAULTS.minBytes;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) problems.push(`maxBytes ${String(maxBytes)} must be an integer ≥ 1`);
  if (!Number.isSafeInteger(maxWaitMs) || maxWaitMs < 0 || maxWaitMs > 300_000) problems.push(`maxWaitMs ${String(maxWaitMs)} must be an integer in [0, 300000]`);
  if (!Number.isSafeInteger(minBytes) || minBytes < 0) problems.push(`minBytes ${String(minBytes)} must be an integer ≥ 0`);
  if (o?.consistency !== undefined && o.consistency !== "leader" && o.consistency !== "linearizable") problems.push(`consistency ${JSON.stringify(o.consistency)} must be "leader" or "linearizable"`);
  if (o?.readFrom !== undefined && o.readFrom !== "leader" && o.readFrom !== "follower" && o.readFrom !== "any") problems.push(`readFrom ${JSON.stringify(o.readFrom)} must be "leader", "follower" or "any"`);
  if (problems.length > 0) {
    throw new FlotillaError(tp ? "INVALID_TOPIC" : "INVALID_REQUEST", `fetch: ${problems.join("; ")}`);
  }
  return { offset, maxBytes, maxWaitMs, minBytes };
}

/**
 * The records in `batches` at or after `from`. Keys, values and header values are Buffer views into
 * the response, not copies (as KafkaJS hands them out): nothing reuses a response's memory, and
 * copying every record cost more than decoding it. A record kept keeps its whole response alive.
 */
export function recordsFrom(batches: Uint8Array, from: bigint): FetchedRecord[] {
  const bytes = Buffer.from(batches.buffer, batches.byteOffset, batches.length);
  const out: FetchedRecord[] = [];
  for (const span of iterateBatches(bytes)) {
    if (span.header.baseOffset + BigInt(span.header.lastOffsetDelta) < from) continue;
    forEachRecord(bytes.subarray(span.at, span.at + span.size), (r) => {
      if (r.offset < from) return;
      // Views into a Buffer are Buffers.
      out.push({ offset: r.offset, key: r.key as Buffer | null, value: r.value as Buffer | null, headers: fromRecordHeaders(r.headers), timestamp: Number(r.timestamp) });
    });
  }
  return out;
}

/** `replicas` picks the broker of a follower fetch (`readFrom` other than "leader"). */
export async function fetchPartition(ctx: ClientContext, rpc: Rpc, o: FetchOptions, replicas?: ReplicaChoice): Promise<FetchResult> {
  const { offset, maxBytes, maxWaitMs, minBytes } = checkFetchOptions(o);
  const cappedMax = Math.min(maxBytes, rpc.requester.maxPayload - MESSAGE_OVERHEAD_BYTES.fetchResponse);
  let target = rpc.partitionTarget("fetch", o.topic, o.partition);
  const readFrom = replicas ? (o.readFrom ?? "leader") : "leader";
  let existenceChecked = false;
  const res = await retry(
    async () => {
      const broker = await replicas?.choose(rpc, o.topic, o.partition, readFrom);
      target = broker === undefined ? rpc.partitionTarget("fetch", o.topic, o.partition) : rpc.replicaFetchTarget(o.topic, o.partition, broker);
      try {
        return await rpc.call(
          "fetch",
          target,
          { topic: o.topic, partition: o.partition, offset, maxBytes: cappedMax, minBytes: Math.min(minBytes, cappedMax), maxWaitMs, consistency: o.consistency ?? "leader" },
          // A leader that died with the request never answers: retry soon rather than after the admin timeout.
          maxWaitMs + Math.min(ctx.requestTimeoutMs, FETCH_ANSWER_MARGIN_MS),
        );
      } catch (e) {
        if (!existenceChecked && e instanceof FlotillaError && e.code === "NO_LEADER") {
          existenceChecked = true;
          await checkPartitionExists(ctx, rpc, o.topic, o.partition);
        }
        throw e;
      }
    },
    ctx.retry,
    // The metadata lookup already retried a topic that may be moments old. A failed replica is chosen again.
    { retriable: (e) => e.code !== "UNKNOWN_TOPIC", onRetry: () => replicas?.forget(o.topic) },
    ctx.env,
  );
  let records: FetchedRecord[];
  try {
    records = recordsFrom(res.batches, offset);
  } catch (e) {
    throw new FlotillaError("CORRUPT_BATCH", `${target.what}: the response holds a batch that does not decode: ${(e as Error).message}`, { cause: e });
  }
  return { highWatermark: res.highWatermark, logStartOffset: res.logStartOffset, records };
}

/** A partition's log start offset and high watermark, asked of its leader (a fetch that waits for nothing). */
export async function partitionBounds(ctx: ClientContext, rpc: Rpc, topic: string, partition: number): Promise<{ logStartOffset: bigint; highWatermark: bigint }> {
  const target = rpc.partitionTarget("fetch", topic, partition);
  return retry(
    async () => {
      const request = { topic, partition, offset: 0n, maxBytes: 1, minBytes: 0, maxWaitMs: 0, consistency: "leader" } as const;
      const res = await rpc.request("fetch", target, request, Math.min(ctx.requestTimeoutMs, FETCH_ANSWER_MARGIN_MS));
      if (res.logStartOffset !== undefined && res.highWatermark !== undefined) return { logStartOffset: res.logStartOffset, highWatermark: res.highWatermark };
      const e = FlotillaError.fromWire(res.error!);
      throw new FlotillaError(e.code, `${target.what}: ${e.message}`, { leader: e.leader });
    },
    ctx.retry,
    {},
    ctx.env,
  );
}

/**
 * Nobody answering on a partition's subject means either that no replica leads it right now or
 * that there is no such partition. Retrying the second for half a minute and then calling it
 * NO_LEADER would mislead, so the first "no responders" asks the metadata which it is.
 */
async function checkPartitionExists(ctx: ClientContext, rpc: Rpc, topic: string, partition: number): Promise<void> {
  const partitions = await new MetadataCache(() => rpc, ctx.requestTimeoutMs, undefined, ctx.env).partitions(topic);
  if (partition >= partitions) {
    throw new FlotillaError("INVALID_PARTITION", `fetch from ${topic}/${partition}: the topic has ${partitions} partition${partitions === 1 ? "" : "s"} (0..${partitions - 1})`);
  }
}

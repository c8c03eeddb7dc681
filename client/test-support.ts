/**
 * A fake cluster behind the Requester seam, for unit tests of the client: it decodes every request
 * with protocol/requests.ts, lets the test script failures, and keeps per-partition logs of the
 * batches it accepted (with dedup by batch UUID and, per producer, sequences in order, as a broker
 * does: a new producer starts at 0, a new epoch at 0, otherwise each batch follows the last).
 */
import { decodeRequest, encodeErrorResponse, encodeResponse, type AnyRequest, type ResponseOf } from "../protocol/requests.js";
import { FlotillaError } from "../protocol/errors.js";
import { readBatchHeader, stampBatch } from "../protocol/record-batch.js";
import type { Requester } from "./connection.js";
import { Flotilla, type FlotillaConfig } from "./flotilla.js";
import type { RetryEnv } from "./retry.js";

export interface SeenRequest {
  subject: string;
  req: AnyRequest;
  timeoutMs: number;
}

/** What a scripted step does to one request: answer normally, fail with a code, or a NATS error. */
export type Fault = { error: FlotillaError } | { nats: "503" | "TIMEOUT" } | { hold: Promise<void> };

export class FakeCluster implements Requester {
  maxPayload = 1 << 20;
  /** Batches above this many bytes are refused with BATCH_TOO_LARGE (a broker below the NATS limit). */
  maxBatchBytes = Infinity;
  readonly seen: SeenRequest[] = [];
  readonly published: SeenRequest[] = [];
  /** topic → partition count. */
  readonly topics = new Map<string, number>();
  /** Every partition's replicas in metadata answers (broker 1 leads). */
  replicas = [1];
  /** "topic/partition" → accepted batches, stamped with their base offsets. */
  readonly logs = new Map<string, Uint8Array[]>();
  private readonly next = new Map<string, bigint>();
  private readonly dedup = new Map<string, bigint>();
  /** "topic/partition/producerId" → the producer's epoch and the sequence it must send next. */
  private readonly sequences = new Map<string, { epoch: number; next: number }>();
  /** Faults applied to the next matching requests, in order. */
  readonly faults: Array<{ type: AnyRequest["type"]; fault: Fault; applyAfter?: boolean }> = [];
  closed = false;

  constructor(topics: Record<string, number> = {}) {
    for (const [t, n] of Object.entries(topics)) this.topics.set(t, n);
  }

  fail(type: AnyRequest["type"], fault: Fault, applyAfter = false): this {
    this.faults.push({ type, fault, applyAfter });
    return this;
  }

  count(type: AnyRequest["type"]): number {
    return this.seen.filter((s) => s.req.type === type).length;
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const req = decodeRequest(data, { maxMessageBytes: this.maxPayload, maxBatchBytes: this.maxPayload });
    this.seen.push({ subject, req, timeoutMs });
    const i = this.faults.findIndex((f) => f.type === req.type);
    const f = i >= 0 ? this.faults.splice(i, 1)[0] : undefined;
    if (f && "hold" in f.fault) await f.fault.hold;
    else if (f && !f.applyAfter) return this.inject(f.fault);
    const res = this.answer(req);
    if (f && f.applyAfter) return this.inject(f.fault); // the request took effect, the answer is lost
    return res;
  }

  publish(subject: string, data: Uint8Array): void {
    const req = decodeRequest(data);
    this.published.push({ subject, req, timeoutMs: 0 });
    this.answer(req);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private inject(fault: Fault): Uint8Array {
    if ("error" in fault) return encodeErrorResponse(fault.error);
    if ("nats" in fault) throw Object.assign(new Error(fault.nats === "503" ? "503" : "TIMEOUT"), { code: fault.nats });
    throw new Error("unreachable");
  }

  private answer(r: AnyRequest): Uint8Array {
    switch (r.type) {
      case "metadata": {
        const names = r.request.topics ?? [...this.topics.keys()];
        const res: ResponseOf<"metadata"> = {
          controllerLeader: 1,
          brokers: [{ id: 1, alive: true, fenced: false }],
          topics: names.map((topic) => {
            const n = this.topics.get(topic);
            if (n === undefined) return { topic, error: new FlotillaError("UNKNOWN_TOPIC").toWire(), partitions: [] };
            return { topic, partitions: Array.from({ length: n }, (_, partition) => ({ partition, leader: 1, replicas: this.replicas })) };
          }),
        };
        return encodeResponse("metadata", res);
      }
      case "produce": {
        const { topic, partition, batchId } = r.request;
        const key = `${topic}/${partition}`;
        const id = Buffer.from(batchId).toString("hex");
        if (r.request.batch.length > this.maxBatchBytes) return encodeErrorResponse(new FlotillaError("BATCH_TOO_LARGE", `${r.request.batch.length} bytes`));
        const dup = this.dedup.get(id);
        if (dup !== undefined) return encodeResponse("produce", { baseOffset: dup });
        const batch = Uint8Array.from(r.request.batch);
        const base = this.next.get(key) ?? 0n;
        stampBatch(batch, 0, base, 1);
        const h = readBatchHeader(batch);
        if (h.producerId >= 0n) {
          const producerKey = `${key}/${h.producerId}`;
          const last = this.sequences.get(producerKey);
          const inOrder = last === undefined || h.producerEpoch > last.epoch ? h.baseSequence === 0 : h.producerEpoch === last.epoch && h.baseSequence === last.next;
          if (!inOrder) return encodeErrorResponse(new FlotillaError(last ? "OUT_OF_ORDER_SEQUENCE" : "UNKNOWN_PRODUCER", `sequence ${h.baseSequence} epoch ${h.producerEpoch}`));
          this.sequences.set(producerKey, { epoch: h.producerEpoch, next: h.baseSequence + h.recordCount });
        }
        this.next.set(key, base + BigInt(h.recordCount));
        this.dedup.set(id, base);
        this.logs.set(key, [...(this.logs.get(key) ?? []), batch]);
        return encodeResponse("produce", { baseOffset: base });
      }
      case "fetch": {
        const key = `${r.request.topic}/${r.request.partition}`;
        const batches = (this.logs.get(key) ?? []).filter((b) => {
          const h = readBatchHeader(b);
          return h.baseOffset + BigInt(h.lastOffsetDelta) >= r.request.offset;
        });
        return encodeResponse("fetch", { highWatermark: this.next.get(key) ?? 0n, logStartOffset: 0n, batches: Buffer.concat(batches) });
      }
      case "createTopic":
        if (this.topics.has(r.request.topic)) return encodeErrorResponse(new FlotillaError("TOPIC_EXISTS", `topic ${r.request.topic} exists`));
        this.topics.set(r.request.topic, r.request.partitions);
        return encodeResponse("createTopic", {});
      case "deleteTopic":
        if (!this.topics.delete(r.request.topic)) return encodeErrorResponse(new FlotillaError("UNKNOWN_TOPIC"));
        return encodeResponse("deleteTopic", {});
      case "listTopics":
        return encodeResponse("listTopics", { topics: [...this.topics.keys()] });
      case "describeTopic": {
        const n = this.topics.get(r.request.topic);
        if (n === undefined) return encodeErrorResponse(new FlotillaError("UNKNOWN_TOPIC"));
        const partitions = Array.from({ length: n }, (_, partition) => ({
          partition,
          leader: 1,
          replicas: [1, 2, 3],
          highWatermark: this.next.get(`${r.request.topic}/${partition}`) ?? 0n,
          logStartOffset: 0n,
        }));
        return encodeResponse("describeTopic", { description: { topic: r.request.topic, partitions, configs: {} } });
      }
      case "describeCluster":
        return encodeResponse("describeCluster", {
          controllerLeader: 1,
          brokers: [1, 2, 3].map((id) => ({ id, alive: true, fenced: false, leaders: 0, replicas: 0 })),
          partitions: 0,
          underReplicated: 0,
        });
      default:
        return encodeErrorResponse(new FlotillaError("INVALID_REQUEST", `fake cluster: ${r.type} not served`));
    }
  }
}

/** A retry environment that never waits, and records the delays it was asked for. */
export function instantRetryEnv(): RetryEnv & { delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms), random: () => 0.5 };
}

export function fakeFlotilla(cluster: FakeCluster, extra: Partial<FlotillaConfig> = {}): Flotilla {
  return new Flotilla({ cluster: "test", clientId: "unit", connect: async () => cluster, retryEnv: instantRetryEnv(), ...extra });
}

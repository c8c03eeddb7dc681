/**
 * Client produce and fetch requests to a partition this broker leads (the per-partition subjects
 * that HostedReplicas subscribes while the local replica leads).
 */
import type { Logger } from "pino";
import { FlotillaError } from "../../protocol/errors.js";
import { MESSAGE_OVERHEAD_BYTES, decodeRequestOf, encodeErrorResponse, encodeResponse, fetchResponseAround, type RequestLimits } from "../../protocol/requests.js";
import type { BusMessage, MessageBus } from "../transport/index.js";
import type { LocalPartition } from "./local-partition.js";
import type { BrokerMetrics } from "./metrics.js";
import { clientError } from "./request-errors.js";
import { ResponseBuffers } from "./response-buffers.js";


export class PartitionRequests {
  /** Two full-size responses in flight reuse their memory (see ResponseBuffers). */
  private readonly responseBuffers: ResponseBuffers;

  constructor(
    private readonly brokerId: number,
    private readonly limits: RequestLimits,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly bus: MessageBus,
  ) {
    // A full response and the frame header a read may hold past it; from half that size on (a
    // smaller response in a pooled buffer would hold more memory than it uses).
    const size = limits.maxMessageBytes + 4096;
    this.responseBuffers = new ResponseBuffers(size, 2, Math.floor(size / 2));
  }

  /**
   * Produce, from the NATS message to the answer: decode and check the request (protocol/requests.ts:
   * sizes, types, topic), check it names this subject's partition, hand the batch to the replica
   * (which validates the batch, dedups by batch id, stamps offsets, proposes to Raft), and answer
   * with the base offset once `acks` is met. acks=none gets no answer. Bad input is answered with
   * an error; nothing is appended.
   */
  async handleProduce(l: LocalPartition, msg: BusMessage): Promise<void> {
    const started = process.hrtime.bigint();
    let acksNone = false;
    try {
      const req = decodeRequestOf("produce", msg.data, this.limits);
      acksNone = req.acks === "none";
      checkPartition(l, req.topic, req.partition);
      this.metrics.bytesIn.inc({ type: "produce" }, req.batch.length);
      const produced = l.replica.produce({ batch: req.batch, batchId: req.batchId, acks: req.acks, producerId: req.producerId, sequence: req.sequence });
      const result = req.timeoutMs > 0 ? await withTimeout(produced, req.timeoutMs, `produce to ${l.topic}/${l.partition}`) : await produced;
      if (!acksNone) msg.respond(encodeResponse("produce", { baseOffset: result.baseOffset }, this.limits));
      this.metrics.observe("produce", "ok", started);
    } catch (e) {
      const fe = clientError(this.logger, e, "produce");
      if (!acksNone) msg.respond(encodeErrorResponse(fe));
      this.metrics.observe("produce", fe.code, started);
    }
  }

  /**
   * Fetch. On the partition's subject (`via` "leader") only the leader serves; on this broker's
   * replica-fetch subject (`via` "replica": follower fetch) any replica does: a follower first gets
   * a read index from the leader and applies up to it (DESIGN.md "Data path"), so it never serves
   * less than the leader had committed when the request arrived; a leader there reads as asked.
   */
  async handleFetch(l: LocalPartition, msg: BusMessage, via: "leader" | "replica" = "leader"): Promise<void> {
    const started = process.hrtime.bigint();
    const type = via === "leader" ? "fetch" : "replica_fetch";
    try {
      const req = decodeRequestOf("fetch", msg.data, this.limits);
      checkPartition(l, req.topic, req.partition);
      const leads = l.replica.isLeader;
      if (!leads && via === "leader") {
        const leader = l.replica.status().leader;
        throw new FlotillaError("NOT_LEADER", `broker ${this.brokerId} no longer leads ${l.topic}/${l.partition}`, leader > 0 ? { leader } : {});
      }
      if (!leads || req.consistency === "linearizable") await l.replica.readIndex(Math.max(1000, req.maxWaitMs));
      const maxBytes = Math.min(req.maxBytes, this.limits.maxMessageBytes - MESSAGE_OVERHEAD_BYTES.fetchResponse);
      const headroom = MESSAGE_OVERHEAD_BYTES.fetchResponse;
      const lease = this.responseBuffers.lease();
      const res = await l.replica.fetch({ offset: req.offset, maxBytes, maxWaitMs: req.maxWaitMs, minBytes: req.minBytes, headroom, alloc: lease.alloc });
      this.metrics.bytesOut.inc({ type }, res.batches.length);
      msg.respond(fetchResponseAround(res.buffer, res, this.limits));
      if (lease.pooled) this.bus.flush().then(lease.release, () => undefined);
      this.metrics.observe(type, "ok", started);
    } catch (e) {
      const fe = clientError(this.logger, e, type);
      if (fe.code === "OFFSET_OUT_OF_RANGE") {
        // The offsets say where the valid range is.
        const s = l.replica.status();
        msg.respond(encodeResponse("fetch", { error: fe.toWire(), highWatermark: s.highWatermark, logStartOffset: s.logStartOffset }, this.limits));
      } else msg.respond(encodeErrorResponse(fe));
      this.metrics.observe(type, fe.code, started);
    }
  }
}

function checkPartition(l: LocalPartition, topic: string, partition: number): void {
  if (topic !== l.topic || partition !== l.partition) {
    throw new FlotillaError("INVALID_REQUEST", `the request names ${topic}/${partition} but was sent to the subject of ${l.topic}/${l.partition}`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new FlotillaError("TIMEOUT", `${what}: not acknowledged within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e as Error);
      },
    );
  });
}

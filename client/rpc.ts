/**
 * One request to the cluster: encode with protocol/requests.ts, send over the Requester, decode
 * the reply, and turn an error reply or a NATS failure into a FlotillaError. No retries here:
 * callers wrap `call` in `retry` (retry.ts), so each decides its own policy.
 */
import { FlotillaError } from "../protocol/errors.js";
import {
  decodeResponse,
  encodeRequest,
  requestLimits,
  type RequestLimits,
  type RequestMap,
  type RequestType,
  type ResponseMap,
  type ResponseOf,
} from "../protocol/requests.js";
import { subjects } from "../protocol/subjects.js";
import type { Requester } from "./connection.js";
import { fromNatsError, type RequestTarget } from "./errors.js";

export class Rpc {
  private cachedLimits: RequestLimits | undefined;

  constructor(
    readonly requester: Requester,
    readonly cluster: string,
  ) {}

  /** The server's message limit, as the codecs want it. */
  get limits(): RequestLimits {
    const max = this.requester.maxPayload;
    if (this.cachedLimits?.maxMessageBytes !== max) this.cachedLimits = requestLimits({ maxMessageBytes: max, maxBatchBytes: max });
    return this.cachedLimits;
  }

  adminTarget(type: RequestType): RequestTarget {
    return { kind: "cluster", subject: subjects.admin(this.cluster), what: type };
  }

  partitionTarget(op: "produce" | "fetch", topic: string, partition: number): RequestTarget {
    return { kind: "partition", subject: subjects.partition(this.cluster, topic, partition, op), what: `${op} ${op === "produce" ? "to" : "from"} ${topic}/${partition}` };
  }

  /** The partition's replica on one broker, leader or follower (follower fetch). */
  replicaFetchTarget(topic: string, partition: number, brokerId: number): RequestTarget {
    return { kind: "partition", subject: subjects.replicaFetch(this.cluster, topic, partition, brokerId), what: `fetch from ${topic}/${partition} at broker ${brokerId}` };
  }

  /** The coordinator of the groups in one `__consumer_offsets` partition (its leader). */
  coordinatorTarget(type: RequestType, offsetsPartition: number, what: string): RequestTarget {
    return { kind: "group", subject: subjects.group(this.cluster, offsetsPartition), what: `${type} of ${what}` };
  }

  /** Sends `request` and resolves with the response as sent, its error included (a fetch's OFFSET_OUT_OF_RANGE carries offsets). */
  async request<K extends RequestType>(type: K, target: RequestTarget, request: RequestMap[K], timeoutMs: number): Promise<ResponseOf<K>> {
    const limits = this.limits;
    const bytes = encodeRequest(type, request, limits);
    let reply: Uint8Array;
    try {
      reply = await this.requester.request(target.subject, bytes, timeoutMs);
    } catch (e) {
      throw fromNatsError(e, target, this.cluster);
    }
    return decodeResponse(type, reply, limits);
  }

  /** Sends `request` and resolves with the response, or throws the FlotillaError it carries. */
  async call<K extends RequestType>(type: K, target: RequestTarget, request: RequestMap[K], timeoutMs: number): Promise<ResponseMap[K]> {
    const res = await this.request(type, target, request, timeoutMs);
    if (res.error !== undefined) {
      const fe = FlotillaError.fromWire(res.error);
      throw new FlotillaError(fe.code, `${target.what}: ${fe.message}`, { leader: fe.leader });
    }
    return res as ResponseMap[K];
  }

  /** Fire-and-forget (produce with acks "none"). */
  publish<K extends RequestType>(type: K, target: RequestTarget, request: RequestMap[K]): void {
    const bytes = encodeRequest(type, request, this.limits);
    try {
      this.requester.publish(target.subject, bytes);
    } catch (e) {
      throw fromNatsError(e, target, this.cluster);
    }
  }
}

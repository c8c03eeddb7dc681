/**
 * The group coordinators this broker runs: one per `__consumer_offsets` partition it leads, serving
 * that partition's group subject (HostedReplicas subscribes it exactly while the replica leads).
 *
 * Taking over: the new leader confirms its leadership and catches up (ReadIndex), replays the
 * partition from its start to the high watermark into a fresh GroupCoordinator (offsets and
 * members; members keep their ids and partitions), and answers NOT_COORDINATOR (retriable) until then. Commits are appended to
 * the partition with acks=all before they are answered. Losing leadership drops the coordinator:
 * its pending appends fail with NOT_LEADER, and its members find the next one.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { FlotillaError } from "../../protocol/errors.js";
import { groupPartition } from "../../protocol/groups.js";
import { iterateBatches } from "../../protocol/record-batch.js";
import { decodeRequest, encodeErrorResponse, encodeResponse, type AnyRequest, type RequestLimits } from "../../protocol/requests.js";
import { GroupCoordinator, HEARTBEAT_INTERVAL_MS, decodeGroupBatch } from "../groups/index.js";
import type { PartitionReplica } from "../partition/index.js";
import type { LocalPartition } from "./local-partition.js";
import type { MetadataFollower } from "./metadata-follower.js";
import type { BrokerMetrics } from "./metrics.js";
import { clientError } from "./request-errors.js";

/** A received request and its answer (a NATS message, or a bus message). */
export interface RequestMessage {
  readonly data: Uint8Array;
  respond(data: Uint8Array): unknown;
}

/** How often members past their session or rebalance timeout are removed. */
const EXPIRE_EVERY_MS = 500;
/** Bytes read per step while replaying the offsets partition. */
const REPLAY_BYTES = 1 << 20;

export interface GroupRequestsOptions {
  brokerId: number;
  limits: RequestLimits;
  metadata: MetadataFollower;
  metrics: BrokerMetrics;
  logger: Logger;
}

/**
 * Nothing is handed out for this long after a coordinator takes over (GroupCoordinator): a steady
 * heartbeat and a second, by which the old coordinator's members have heard they must stop.
 */
const TAKEOVER_GRACE_MS = HEARTBEAT_INTERVAL_MS.steady + 1000;

interface Coordinator {
  /** Undefined while the partition is being replayed. */
  ready: GroupCoordinator | undefined;
}

export class GroupRequests {
  /** By offsets partition, while this broker leads it. */
  private readonly coordinators = new Map<number, Coordinator>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: GroupRequestsOptions) {
    this.timer = setInterval(() => {
      for (const c of this.coordinators.values()) c.ready?.expire();
    }, EXPIRE_EVERY_MS);
  }

  /** The offsets partition's replica gained or lost leadership. */
  onLeadership(l: LocalPartition, isLeader: boolean): void {
    this.coordinators.delete(l.partition);
    if (!isLeader) return;
    const c: Coordinator = { ready: undefined };
    this.coordinators.set(l.partition, c);
    void this.load(l.replica)
      .then((coordinator) => {
        if (this.coordinators.get(l.partition) === c) c.ready = coordinator;
      })
      .catch((err: unknown) => {
        this.o.logger.warn({ err, partition: l.partition }, "could not load the group offsets partition; its coordinator waits for the next leadership change");
      });
  }

  async handle(l: LocalPartition, msg: RequestMessage): Promise<void> {
    const started = process.hrtime.bigint();
    let type = "group";
    try {
      const req = decodeRequest(msg.data, this.o.limits);
      type = req.type;
      const coordinator = this.coordinators.get(l.partition)?.ready;
      if (!coordinator) throw new FlotillaError("NOT_COORDINATOR", `broker ${this.o.brokerId} is not (yet) the coordinator of offsets partition ${l.partition}; retry`);
      if ("groupId" in req.request && groupPartition(req.request.groupId) !== l.partition) {
        throw new FlotillaError("NOT_COORDINATOR", `group ${req.request.groupId} belongs to offsets partition ${groupPartition(req.request.groupId)}, not ${l.partition}`);
      }
      msg.respond(await this.answer(coordinator, req));
      this.o.metrics.observe(type, "ok", started);
    } catch (e) {
      const fe = clientError(this.o.logger, e, type);
      msg.respond(encodeErrorResponse(fe));
      this.o.metrics.observe(type, fe.code, started);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.coordinators.clear();
  }

  private async answer(c: GroupCoordinator, req: AnyRequest): Promise<Uint8Array> {
    const limits = this.o.limits;
    switch (req.type) {
      case "joinGroup":
        return encodeResponse("joinGroup", await c.join(req.request), limits);
      case "heartbeat":
        return encodeResponse("heartbeat", c.heartbeat(req.request), limits);
      case "leaveGroup":
        await c.leave(req.request);
        return encodeResponse("leaveGroup", {}, limits);
      case "commitOffsets":
        await c.commit(req.request);
        return encodeResponse("commitOffsets", {}, limits);
      case "fetchOffsets":
        return encodeResponse("fetchOffsets", { offsets: c.fetchOffsets(req.request) }, limits);
      case "listGroups":
        return encodeResponse("listGroups", { groups: c.listGroups() }, limits);
      case "describeGroup":
        return encodeResponse("describeGroup", c.describeGroup(req.request.groupId), limits);
      default:
        throw new FlotillaError("INVALID_REQUEST", `${req.type} is not a request for a group coordinator${req.type === "resetOffsets" ? " (reset offsets by committing them from outside the group: Admin.resetOffsets)" : ""}`);
    }
  }

  /** Confirms leadership, then replays the partition into a new coordinator. */
  private async load(replica: PartitionReplica): Promise<GroupCoordinator> {
    await replica.readIndex(10_000);
    const coordinator = new GroupCoordinator({
      now: Date.now,
      partitionsOf: (topic) => this.o.metadata.image.topic(topic)?.partitions.length,
      append: async (batch) => void (await replica.produce({ batch, batchId: randomBytes(16), acks: "all" })),
      newMemberId: (clientId) => `${clientId}-${randomUUID()}`,
      takeoverGraceMs: TAKEOVER_GRACE_MS,
    });
    let offset = replica.status().logStartOffset;
    for (;;) {
      const res = await replica.fetch({ offset, maxBytes: REPLAY_BYTES, maxWaitMs: 0 });
      if (res.batches.length === 0) break;
      for (const span of iterateBatches(res.batches)) {
        const batch = res.batches.subarray(span.at, span.at + span.size);
        offset = span.header.baseOffset + BigInt(span.header.lastOffsetDelta) + 1n;
        try {
          coordinator.apply(decodeGroupBatch(batch));
        } catch (err) {
          this.o.logger.warn({ err, partition: replica.partition, baseOffset: String(span.header.baseOffset) }, "skipping a batch of the offsets partition that is not group records");
        }
      }
    }
    this.o.logger.info({ partition: replica.partition, replayedTo: String(offset) }, "group coordinator ready");
    return coordinator;
  }
}

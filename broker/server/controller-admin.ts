/**
 * The controller leader's answers to the admin writes brokers forward to it: executing and
 * cancelling reassignments, moving leaders (one, or all to their preferred replicas), and
 * decommissioning a broker. Each turns into metadata records (proposed, and checked against what
 * applying them said) and leadership moves, which the controller hands to the leading brokers in
 * their next heartbeat reply (a partition's leader is the one that can transfer it).
 */
import { FlotillaError } from "../../protocol/errors.js";
import { encodeResponse, type AnyRequest, type PartitionReplicas, type ResponseMap, type RequestType } from "../../protocol/requests.js";
import {
  REASSIGNMENT_PLAN_VERSION,
  generateReassignment,
  planCancelReassignment,
  planExecuteReassignment,
  planPreferredLeader,
  preferredLeaderMoves,
  type ApplyResult,
  type MetadataImage,
  type MetadataRecord,
  type PlannedReplicas,
} from "../controller/index.js";
import type { LeaderMoveOrder } from "./controller-messages.js";

export interface ControllerAdminContext {
  readonly image: MetadataImage;
  /** Proposes one record; resolves once applied here. */
  propose(record: MetadataRecord): Promise<{ index: number; result: ApplyResult }>;
  /** The partition's leader as the live brokers' heartbeats report it. */
  leaderOf(topic: string, partition: number): number | undefined;
  /** Asks `leader` to hand the partition to `move[2]` (with its next heartbeat reply). */
  orderMove(leader: number, move: LeaderMoveOrder): void;
}

export interface AdminWriteAnswer {
  /** The metadata index a broker must have applied before relaying `response` (read your writes). */
  readonly appliedIndex: number;
  readonly response: Uint8Array;
}

export async function answerAdminWrite(req: AnyRequest, ctx: ControllerAdminContext): Promise<AdminWriteAnswer> {
  switch (req.type) {
    case "reassignPartitions": {
      const records: MetadataRecord[] = planExecuteReassignment(ctx.image, { version: REASSIGNMENT_PLAN_VERSION, partitions: req.request.partitions });
      // Each execute sets the cap for every move in progress (none given: no cap).
      const bytesPerSec = req.request.throttleBytesPerSec ?? 0;
      if (bytesPerSec !== ctx.image.reassignmentThrottle) records.unshift({ type: "setReassignmentThrottle", bytesPerSec });
      return answer("reassignPartitions", {}, await proposeAll(ctx, records));
    }
    case "cancelReassignment": {
      const image = ctx.image;
      const records = req.request.partitions.flatMap(({ topic, partitions }) =>
        partitions.filter((p) => image.topic(topic)?.partitions[p]?.reassignment).map((p) => planCancelReassignment(image, topic, p)),
      );
      if (records.length === 0) throw new FlotillaError("INVALID_REQUEST", "none of the given partitions is being reassigned");
      return answer("cancelReassignment", {}, await proposeAll(ctx, records));
    }
    case "transferLeader": {
      const { topic, partition, to } = req.request;
      const state = ctx.image.topic(topic)?.partitions[partition];
      if (state?.reassignment) throw new FlotillaError("INVALID_REQUEST", `${topic}-${partition} is being reassigned; its leader follows the reassignment`);
      if (ctx.image.broker(to)?.fenced !== false) throw new FlotillaError("INVALID_REQUEST", `broker ${to} is not an unfenced broker`);
      // The new leader becomes the preferred one too, or leadership would drift back to the old.
      const records = state?.replicas[0] === to ? [] : [planPreferredLeader(ctx.image, topic, partition, to)];
      const appliedIndex = await proposeAll(ctx, records);
      // The leader as heartbeats report it can be a moment stale (right after a move it may even
      // be `to`), so every other replica gets the order: only the one leading when it arrives acts.
      for (const r of state?.replicas ?? []) if (r !== to) ctx.orderMove(r, [topic, partition, to]);
      return answer("transferLeader", {}, appliedIndex);
    }
    case "rebalanceLeaders": {
      const moves = preferredLeaderMoves(ctx.image, (topic, partition) => {
        const leader = ctx.leaderOf(topic, partition);
        return leader === undefined ? {} : { leader };
      }).filter((m) => m.from !== undefined);
      for (const m of moves) ctx.orderMove(m.from as number, [m.topic, m.partition, m.to]);
      return answer("rebalanceLeaders", { moves }, ctx.image.appliedIndex);
    }
    case "decommissionBroker":
      return decommission(ctx, req.request.brokerId);
    default:
      throw new FlotillaError("INVALID_REQUEST", `${req.type} is not an admin write the controller answers`);
  }
}

/**
 * Moves every replica off `brokerId` (a plan over the other unfenced brokers that keeps every
 * other replica where it can), and once it hosts nothing, fences it for good.
 */
async function decommission(ctx: ControllerAdminContext, brokerId: number): Promise<AdminWriteAnswer> {
  const image = ctx.image;
  const broker = image.broker(brokerId);
  if (!broker) throw new FlotillaError("INVALID_REQUEST", `broker ${brokerId} is not registered`);
  const hosted = image.hostedPartitions(brokerId);
  if (hosted.length === 0) {
    const records: MetadataRecord[] = broker.decommissioned ? [] : [{ type: "decommissionBroker", brokerId, brokerEpoch: broker.epoch }];
    return answer("decommissionBroker", { partitions: [], fenced: true }, await proposeAll(ctx, records));
  }
  const onBroker: PlannedReplicas[] = [];
  const leaving: PartitionReplicas[] = [];
  for (const h of hosted) {
    const goal = h.reassignment?.target ?? h.replicas;
    if (goal.includes(brokerId)) onBroker.push({ topic: h.topic, partition: h.partition, replicas: goal });
    else leaving.push({ topic: h.topic, partition: h.partition, replicas: [...goal] });
  }
  const others = image.unfencedBrokers().filter((b) => b.id !== brokerId);
  const plan = generateReassignment(onBroker, others);
  // A partition already moving onto the broker must be cancelled before it can move off.
  for (const p of plan.partitions) {
    const moving = image.topic(p.topic)?.partitions[p.partition]?.reassignment;
    if (moving) throw new FlotillaError("INVALID_REQUEST", `${p.topic}-${p.partition} is being reassigned onto broker ${brokerId}; cancel that first (flotilla reassign cancel)`);
  }
  const appliedIndex = await proposeAll(ctx, planExecuteReassignment(image, plan));
  const partitions = [...leaving, ...plan.partitions.map((p) => ({ topic: p.topic, partition: p.partition, replicas: [...p.replicas] }))];
  return answer("decommissionBroker", { partitions, fenced: false }, appliedIndex);
}

/** Proposes the records in order; the first one applying rejects fails the request. Resolves with the last index (or the image's, for none). */
async function proposeAll(ctx: ControllerAdminContext, records: readonly MetadataRecord[]): Promise<number> {
  let index = ctx.image.appliedIndex;
  for (const record of records) {
    const proposed = await ctx.propose(record);
    if (proposed.result.rejected) throw new FlotillaError(proposed.result.rejected.code, proposed.result.rejected.reason);
    index = proposed.index;
  }
  return index;
}

function answer<K extends RequestType>(type: K, response: ResponseMap[K], appliedIndex: number): AdminWriteAnswer {
  return { appliedIndex, response: encodeResponse(type, response as never) };
}

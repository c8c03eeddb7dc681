/**
 * The runtime lookup describe requests use: leaders, high watermarks, in-sync replicas and
 * liveness, which the metadata image does not hold. The controller leader answers it from the partitions brokers report
 * leading in their heartbeats ("the lookup the leaders publish", at most one heartbeat old); the
 * asking broker lays its own led replicas over that answer.
 */
import type { Logger } from "pino";
import type { BrokerLiveness, ClusterRuntime, MetadataImage, PartitionRuntime } from "../controller/index.js";
import type { ControllerClient } from "./controller-client.js";
import { replyChecks, type RuntimePartition, type RuntimeReply } from "./controller-messages.js";
import type { LedReports } from "./led-report.js";
import type { LocalPartition } from "./local-partition.js";

function runtimeKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** The controller leader's answer: live brokers, and each partition's leader as the live brokers report it. */
export function runtimeReply(
  image: MetadataImage,
  liveness: BrokerLiveness,
  ledReports: LedReports,
  controllerLeader: number,
  now: number,
): Exclude<RuntimeReply, { error: unknown }> {
  const alive = image.brokers().filter((b) => liveness.isAlive(image, b.id, now)).map((b) => b.id);
  // The newest term wins where two brokers still claim a partition.
  const best = new Map<string, { term: number; reply: RuntimePartition }>();
  for (const [brokerId, led] of ledReports.entries()) {
    if (!alive.includes(brokerId)) continue;
    for (const [topic, partition, term, hw, lso, isr] of led) {
      const k = runtimeKey(topic, partition);
      const cur = best.get(k);
      if (!cur || cur.term < term) best.set(k, { term, reply: isr ? [topic, partition, brokerId, hw, lso, isr] : [topic, partition, brokerId, hw, lso] });
    }
  }
  return { controllerLeader, alive, partitions: [...best.values()].map((p) => p.reply) };
}

/**
 * Leaders, high watermarks and liveness for describe requests: the controller leader's view
 * (from heartbeats), with this broker's own led replicas taking precedence (they are fresher).
 * Without a reachable controller: only what this broker knows itself.
 */
export async function lookupRuntime(controller: ControllerClient, brokerId: number, localReplicas: () => Iterable<LocalPartition>, logger: Logger): Promise<ClusterRuntime> {
  const parts = new Map<string, PartitionRuntime>();
  let controllerLeader: number | undefined;
  let alive = new Set<number>([brokerId]);
  try {
    const rt = await controller.call({ type: "runtime" }, replyChecks.runtime, 2000);
    controllerLeader = rt.controllerLeader;
    alive = new Set(rt.alive);
    for (const [topic, partition, leader, hw, lso, isr] of rt.partitions) {
      parts.set(runtimeKey(topic, partition), { leader, highWatermark: BigInt(hw), logStartOffset: BigInt(lso), ...(isr && { isr }) });
    }
  } catch (err) {
    logger.debug({ err }, "runtime lookup at the controller failed; describing from local knowledge");
  }
  for (const l of localReplicas()) {
    const s = l.replica.status();
    const k = runtimeKey(l.topic, l.partition);
    if (s.role === "leader" || !parts.has(k)) {
      parts.set(k, { ...(s.leader > 0 && { leader: s.leader }), highWatermark: s.highWatermark, logStartOffset: s.logStartOffset, ...(s.isr && { isr: s.isr }) });
    }
  }
  return {
    ...(controllerLeader !== undefined && { controllerLeader }),
    isAlive: (id) => alive.has(id),
    partition: (topic, partition) => parts.get(runtimeKey(topic, partition)) ?? { highWatermark: 0n, logStartOffset: 0n },
  };
}

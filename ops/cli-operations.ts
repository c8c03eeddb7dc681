/**
 * The operations commands of `flotilla`: `reassign generate | execute | verify | cancel`,
 * `leader transfer | rebalance`, `broker decommission`. Each runs against an Admin client and
 * reports through `OperationsIo`, so cli.ts only parses flags and wires them in.
 */
import { readFile } from "node:fs/promises";
import { FlotillaError, parseReassignmentPlan, type Admin, type PartitionReassignment, type ReassignmentPlan, type ReassignmentStatus } from "../client/index.js";

export interface OperationsIo {
  /** The result: one JSON document with --json, else the text. */
  print(json: unknown, text: string): void;
  /** A progress line (shown on a terminal only; replaced by the next one). */
  progress(line: string): void;
  sleep(ms: number): Promise<void>;
  /** True once the user asked to stop (Ctrl-C). */
  interrupted(): boolean;
}

/** How long a partition of an executed plan may look not started (a broker whose image lags) before the wait gives up on it. */
const NOT_STARTED_GRACE_MS = 15_000;
const POLL_MS = 1000;

export async function readPlan(path: string): Promise<ReassignmentPlan> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new FlotillaError("INVALID_REQUEST", `cannot read the plan ${path}: ${(e as Error).message}; write one with \`flotilla reassign generate --topics T --brokers 1,2,3 --json > ${path}\``);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FlotillaError("INVALID_REQUEST", `the plan ${path} is not JSON: ${(e as Error).message}`);
  }
  return parseReassignmentPlan(json);
}

export async function generatePlan(admin: Admin, io: OperationsIo, topics: string[], brokers: number[]): Promise<void> {
  const plan = await admin.generateReassignment({ topics, brokers });
  io.print(plan, JSON.stringify(plan, null, 2));
}

function statusJson(s: ReassignmentStatus): object {
  return { complete: s.complete, partitions: s.partitions };
}

function summary(s: ReassignmentStatus): string {
  const by = (status: PartitionReassignment["status"]): PartitionReassignment[] => s.partitions.filter((p) => p.status === status);
  const steps = new Map<string, number>();
  for (const p of by("inProgress")) steps.set(p.step ?? "started", (steps.get(p.step ?? "started") ?? 0) + 1);
  const moving = [...steps].map(([step, n]) => `${n} ${step}`).join(", ");
  return `${by("complete").length}/${s.partitions.length} complete${moving ? `; moving: ${moving}` : ""}${by("notStarted").length ? `; not started: ${by("notStarted").length}` : ""}`;
}

function statusTable(s: ReassignmentStatus): string {
  return s.partitions
    .map((p) => `${p.topic}-${p.partition}: ${p.status}${p.status === "inProgress" ? ` (${p.step}) [${p.replicas.join(",")}] -> [${p.target?.join(",")}]` : ` [${p.replicas.join(",")}]${p.target ? ` moving to [${p.target.join(",")}]` : ""}`}`)
    .join("\n");
}

/**
 * Waits until every partition of the plan has its planned replicas, showing progress. Fails when a
 * partition stays "not started" (cancelled, or moved elsewhere) past the grace period.
 */
async function waitComplete(admin: Admin, io: OperationsIo, plan: ReassignmentPlan): Promise<ReassignmentStatus> {
  const notStartedSince = new Map<string, number>();
  for (;;) {
    const s = await admin.reassignmentStatus(plan);
    io.progress(`reassign: ${summary(s)}`);
    if (s.complete || io.interrupted()) return s;
    const now = Date.now();
    for (const p of s.partitions) {
      const key = `${p.topic}-${p.partition}`;
      if (p.status !== "notStarted") notStartedSince.delete(key);
      else if (!notStartedSince.has(key)) notStartedSince.set(key, now);
      else if (now - (notStartedSince.get(key) as number) > NOT_STARTED_GRACE_MS) {
        throw new FlotillaError("INVALID_REQUEST", `${key} is not moving to [${plan.partitions.find((x) => `${x.topic}-${x.partition}` === key)?.replicas.join(",")}] (cancelled, or moved elsewhere); see \`flotilla reassign verify --plan FILE\``);
      }
    }
    await io.sleep(POLL_MS);
  }
}

/** Returns the exit code: 0 once complete (or started, with `noWait`). */
export async function executePlan(admin: Admin, io: OperationsIo, plan: ReassignmentPlan, o: { throttleMbps?: number; noWait: boolean }): Promise<number> {
  await admin.reassignPartitions(plan, o.throttleMbps === undefined ? {} : { throttleMbps: o.throttleMbps });
  const s = o.noWait ? await admin.reassignmentStatus(plan) : await waitComplete(admin, io, plan);
  const how = s.complete ? "reassignment complete" : o.noWait ? "reassignment started; follow it with `flotilla reassign verify --plan FILE`" : "stopped waiting; the reassignment goes on";
  io.print(statusJson(s), `${how}: ${summary(s)}`);
  return s.complete || o.noWait ? 0 : 1;
}

/** Exit code 0 only when the plan is complete. */
export async function verifyPlan(admin: Admin, io: OperationsIo, plan: ReassignmentPlan): Promise<number> {
  const s = await admin.reassignmentStatus(plan);
  io.print(statusJson(s), `${s.complete ? "complete" : "not complete"}: ${summary(s)}\n${statusTable(s)}`);
  return s.complete ? 0 : 1;
}

export async function cancelPlan(admin: Admin, io: OperationsIo, partitions: ReassignmentPlan | Array<{ topic: string; partition: number }>): Promise<void> {
  await admin.cancelReassignment(partitions);
  const list = "version" in partitions ? partitions.partitions : partitions;
  io.print({ cancelled: list.map((p) => ({ topic: p.topic, partition: p.partition })) }, `cancelled the reassignments in progress of ${list.length} partition${list.length === 1 ? "" : "s"}; each goes back to its replicas`);
}

export async function transferLeader(admin: Admin, io: OperationsIo, topic: string, partition: number, to: number): Promise<void> {
  await admin.transferLeader({ topic, partition, to });
  io.print({ topic, partition, leader: to }, `${topic}-${partition} is now led by broker ${to}`);
}

export async function rebalanceLeaders(admin: Admin, io: OperationsIo): Promise<void> {
  const moves = await admin.rebalanceLeaders();
  io.print({ moves }, moves.length === 0 ? "every partition is led by its preferred replica (or it cannot take over now)" : moves.map((m) => `${m.topic}-${m.partition}: ${m.from} -> ${m.to}`).join("\n"));
}

/** Moves every replica off the broker, waits for the moves, then fences it. */
export async function decommissionBroker(admin: Admin, io: OperationsIo, brokerId: number, noWait: boolean): Promise<number> {
  for (;;) {
    const d = await admin.decommissionBroker(brokerId);
    if (d.fenced) {
      io.print({ brokerId, fenced: true, partitions: [] }, `broker ${brokerId} hosts nothing and is fenced; it can be stopped and removed`);
      return 0;
    }
    const plan: ReassignmentPlan = { version: 1, partitions: d.partitions };
    if (noWait) {
      io.print({ brokerId, fenced: false, partitions: d.partitions }, `moving ${d.partitions.length} partitions off broker ${brokerId}; run this again to fence it once they have moved`);
      return 0;
    }
    const s = await waitComplete(admin, io, plan);
    if (!s.complete) {
      io.print({ brokerId, fenced: false, partitions: d.partitions }, `stopped waiting; ${summary(s)}`);
      return 1;
    }
  }
}

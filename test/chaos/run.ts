/**
 * One chaos run, start to verdict:
 *
 * 1. a nats-server and N broker processes with fault control (chaos-cluster.ts); wait until every
 *    broker is registered and unfenced; create the topic (replication factor 3);
 * 2. producers, readers (workload.ts) and a consumer group (group-consumers.ts) start and run throughout;
 * 3. the nemesis (nemesis.ts) injects faults until the minutes are up;
 * 4. heal: every broker running, unpaused, no network faults; the cluster must become whole again
 *    and producers must get acknowledgements again (liveness);
 * 5. stop the load, read every partition back in full with linearizable fetches through each of
 *    its replicas as leader, let the consumer group get to the end, and let the History judge
 *    (history.ts).
 *
 * Anything that stops the run from reaching a verdict (the cluster never heals, a step times out)
 * is reported as `error`, which fails the run like a violation does.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Admin, Flotilla } from "../../client/index.js";
import { ChaosCluster } from "./chaos-cluster.js";
import { GroupConsumers } from "./group-consumers.js";
import { History, type CheckResult, type FinalRead } from "./history.js";
import { Nemesis, type FaultKind } from "./nemesis.js";
import { OperatorMoves } from "./operator-moves.js";
import { chaosClient, Workload } from "./workload.js";

export interface ChaosOptions {
  minutes: number;
  seed: number;
  brokers: number;
  partitions: number;
  producers: number;
  /** The fault kinds the nemesis chooses from. */
  faults: readonly FaultKind[];
  /** Keep the brokers' data and logs here (default: a temporary directory, removed when the run passes). */
  dir?: string;
  /** Broker log level. */
  logLevel: string;
  say: (line: string) => void;
}

export interface ChaosReport extends Omit<CheckResult, "examples"> {
  seed: number;
  minutes: number;
  brokers: number;
  partitions: number;
  faults: Record<string, number>;
  faultCount: number;
  acked: number;
  /** Messages whose send failed after the client's retries: may or may not be in the log. */
  unacked: number;
  /** Operator moves (leader transfers, reassignments) the cluster refused or did not finish in time. */
  operatorFailures: number;
  /** Broker processes that exited without being killed. */
  crashes: number;
  /** Why the run could not reach a verdict, if it could not. */
  error?: string;
  examples: string[];
  dir: string;
  durationMs: number;
}

const TOPIC = "chaos";
const REPLICATION_FACTOR = 3;
const READY_TIMEOUT_MS = 90_000;
const PROGRESS_EVERY_MS = 10_000;
const GROUP_MEMBERS = 2;

/** The counts that fail a run when above zero. */
export const VIOLATIONS = ["lost", "misplaced", "duplicated", "divergent", "skipped", "groupSkipped", "crashes"] as const;

export function failed(r: ChaosReport): boolean {
  return r.error !== undefined || VIOLATIONS.some((k) => r[k] > 0);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last = "no answer yet";
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (last: ${last})`);
    await sleep(250);
  }
}

/** Every broker alive and unfenced, a controller leader, and a leader for every partition of the topic. */
async function whole(admin: Admin, brokers: number, topic: string | undefined): Promise<true | undefined> {
  const d = await admin.describeCluster();
  if (d.controllerLeader === undefined || d.brokers.filter((b) => b.alive && !b.fenced).length < brokers) return undefined;
  if (topic === undefined) return true;
  const t = await admin.describeTopic(topic);
  return t.partitions.every((p) => p.leader !== undefined) ? true : undefined;
}

/** A whole partition, read with linearizable fetches up to the high watermark. */
async function readBack(client: Flotilla, partition: number): Promise<FinalRead> {
  const records: FinalRead["records"] = [];
  let offset = 0n;
  for (;;) {
    const r = await client.fetch({ topic: TOPIC, partition, offset, maxWaitMs: 0, minBytes: 0, consistency: "linearizable" });
    for (const rec of r.records) records.push({ offset: rec.offset, value: rec.value?.toString() ?? "<null>" });
    if (r.records.length > 0) offset = r.records[r.records.length - 1].offset + 1n;
    if (offset >= r.highWatermark || r.records.length === 0) return { logStartOffset: r.logStartOffset, highWatermark: r.highWatermark, records };
  }
}

/**
 * Reads a whole partition once through each of its replicas as leader (moved there with a leader
 * transfer; a replica that cannot be made leader is said and skipped). Returns the last read.
 */
async function readLedByEach(admin: Admin, client: Flotilla, history: History, partition: number, say: (line: string) => void): Promise<FinalRead> {
  const { replicas } = (await admin.describeTopic(TOPIC)).partitions[partition];
  let last: FinalRead | undefined;
  for (const leader of replicas) {
    try {
      await admin.transferLeader({ topic: TOPIC, partition, to: leader });
    } catch (e) {
      say(`chaos: could not make broker ${leader} lead ${TOPIC}/${partition} for the final read: ${(e as Error).message}`);
      continue;
    }
    last = await readBack(client, partition);
    history.observeFinal(partition, last, leader);
  }
  return last ?? (await readBack(client, partition));
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), "flotilla-chaos-")));
  await mkdir(dir, { recursive: true });
  const history = new History();
  let check: CheckResult = { read: 0, lost: 0, misplaced: 0, duplicated: 0, divergent: 0, skipped: 0, groupSkipped: 0, examples: [] };
  let error: string | undefined;
  let nemesis: Nemesis | undefined;
  let workload: Workload | undefined;
  let operator: OperatorMoves | undefined;
  let group: GroupConsumers | undefined;
  o.say(`chaos: seed ${o.seed}, ${o.minutes} min, ${o.brokers} brokers, ${o.partitions} partitions; data and broker logs in ${dir}`);
  const cluster = await ChaosCluster.start({ brokers: o.brokers, dir, cluster: "chaos", logLevel: o.logLevel });
  const client = chaosClient({ natsUrl: cluster.nats.url, cluster: cluster.cluster }, "chaos-nemesis");
  const admin = client.admin();
  let progress: NodeJS.Timeout | undefined;
  try {
    await admin.connect();
    await until("every broker registered and unfenced", READY_TIMEOUT_MS, () => whole(admin, o.brokers, undefined));
    await admin.createTopic({ topic: TOPIC, partitions: o.partitions, replicationFactor: REPLICATION_FACTOR });
    await until("a leader for every partition", READY_TIMEOUT_MS, () => whole(admin, o.brokers, TOPIC));

    const runId = randomBytes(3).toString("hex");
    workload = new Workload(
      { natsUrl: cluster.nats.url, cluster: cluster.cluster, topic: TOPIC, partitions: o.partitions, producers: o.producers, sendLoops: 2, messagesPerSend: 5, pauseMs: 20, runId, say: o.say },
      history,
    );
    await workload.start();
    group = new GroupConsumers(client, TOPIC, history);
    await group.start(GROUP_MEMBERS);
    await until("the first acknowledgements", READY_TIMEOUT_MS, async () => (history.acked > 0 ? true : undefined));

    operator = new OperatorMoves(admin, TOPIC, REPLICATION_FACTOR, o.say);
    nemesis = new Nemesis(o.seed, o.faults, cluster, admin, operator, group, TOPIC, o.say);
    const w = workload;
    const n = nemesis;
    progress = setInterval(() => {
      const behind = [...w.readerOffsets.values()].reduce((a, b) => (b < a ? b : a), BigInt(Number.MAX_SAFE_INTEGER));
      o.say(`chaos: ${Math.round((Date.now() - started) / 1000)} s, ${n.total} faults, ${history.acked} acked, ${w.unacked} unacked, slowest reader at ${behind}${w.lastError ? `; last client error: ${w.lastError}` : ""}`);
    }, PROGRESS_EVERY_MS);
    await nemesis.run(Date.now() + o.minutes * 60_000);

    o.say("chaos: healing the cluster");
    await cluster.heal();
    await until("the cluster whole again after the faults", READY_TIMEOUT_MS, () => whole(admin, o.brokers, TOPIC));
    await operator.settle(READY_TIMEOUT_MS);
    const ackedAtHeal = history.acked;
    await until("acknowledgements after the heal", READY_TIMEOUT_MS, async () => (history.acked >= ackedAtHeal + 100 ? true : undefined));
    await workload.stop();

    o.say("chaos: reading every partition back, led by each of its replicas in turn");
    const finals = new Map<number, FinalRead>();
    for (let p = 0; p < o.partitions; p++) finals.set(p, await readLedByEach(admin, client, history, p, o.say));
    o.say("chaos: waiting for the consumer group to get to the end");
    await group.drain(finals, READY_TIMEOUT_MS);
    check = history.check(finals);
  } catch (e) {
    error = (e as Error).message;
  } finally {
    clearInterval(progress);
    nemesis?.stop();
    await workload?.stop().catch(() => undefined);
    await group?.stop();
    await admin.disconnect().catch(() => undefined);
    await client.disconnect().catch(() => undefined);
    await cluster.stop();
  }
  const report: ChaosReport = {
    seed: o.seed,
    minutes: o.minutes,
    brokers: o.brokers,
    partitions: o.partitions,
    faults: nemesis?.counts ?? {},
    faultCount: nemesis?.total ?? 0,
    acked: history.acked,
    unacked: workload?.unacked ?? 0,
    operatorFailures: operator?.failures ?? 0,
    ...check,
    crashes: cluster.crashes.length,
    ...(error !== undefined && { error }),
    examples: [...cluster.crashes, ...history.examples],
    dir,
    durationMs: Date.now() - started,
  };
  if (!failed(report) && o.dir === undefined) await rm(dir, { recursive: true, force: true });
  return report;
}

/**
 * Figure script (not a test): 1,000 partitions with replication factor 3 on a local 3-broker
 * cluster (broker processes on a real nats-server). Waits until every partition has a leader, lets
 * the cluster settle for 15 s, then takes each broker process's CPU time (utime + stime from
 * /proc, all its threads) over a fixed window (`--seconds`, default 30) and prints one JSON line:
 * CPU seconds / window seconds, as % of one core, and how many partitions changed leader in the
 * window (0 expected: idle groups must not flap). CPU time, unlike wall-clock rates, holds up on a
 * shared machine; run it under `flock /tmp/flotilla-bench.lock` and note the load.
 * Run: `node dist/test/broker-idle-cpu.js [--partitions 1000] [--seconds 30]`. With
 * FLOTILLA_BROKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=D" the brokers write CPU profiles on exit;
 * `windowMonotonicUs` is the window on the profiles' clock.
 */
import { readFile } from "node:fs/promises";
import { BrokerProcessHandle, RawClient, eventually, natsAndDir, sleep } from "./broker-fixtures.js";

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/** utime + stime of a process, in seconds. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks; 100 Hz on Linux
}

/** Partition → leader, for the partitions that have one. */
async function leaderOf(client: RawClient): Promise<Map<number, number>> {
  const d = await client.admin("describeTopic", { topic: "idle" }, 20_000);
  return new Map(d.description.partitions.flatMap((p) => (p.leader === undefined ? [] : [[p.partition, p.leader] as [number, number]])));
}

const partitions = flag("partitions", 1000);
const seconds = flag("seconds", 30);
const env = await natsAndDir();
const procs = [1, 2, 3].map((id) => new BrokerProcessHandle(env, id, [1, 2, 3]));
for (const p of procs) p.start();
const client = await RawClient.connect(env.server.url);
try {
  const t0 = Date.now();
  await eventually("3 alive unfenced brokers", async () => {
    const d = await client.admin("describeCluster", {});
    return d.brokers.length === 3 && d.brokers.every((b) => b.alive && !b.fenced) ? d : undefined;
  }, 60_000);
  await client.admin("createTopic", { topic: "idle", partitions, replicationFactor: 3, configs: {} }, 60_000);
  const created = Date.now();
  let led = 0;
  await eventually(
    "every partition led",
    async () => {
      const d = await client.admin("describeTopic", { topic: "idle" }, 20_000);
      led = d.description.partitions.filter((p) => p.leader !== undefined).length;
      process.stderr.write(`\r${led}/${partitions} partitions have a leader`);
      return led === partitions ? true : undefined;
    },
    300_000,
    1000,
  );
  const allLed = Date.now();
  process.stderr.write("\nsettling…\n");
  await sleep(15_000);
  const leadersBefore = await leaderOf(client);
  // The window on the monotonic clock V8's CPU profiles use, to cut `--cpu-prof` output to it.
  const windowStartUs = process.hrtime.bigint() / 1000n;
  const before = await Promise.all(procs.map((p) => cpuSeconds(p.child!.pid!)));
  await sleep(seconds * 1000);
  const after = await Promise.all(procs.map((p) => cpuSeconds(p.child!.pid!)));
  const windowEndUs = process.hrtime.bigint() / 1000n;
  const leadersAfter = await leaderOf(client);
  const leaders = new Map<number, number>();
  for (const l of leadersAfter.values()) leaders.set(l, (leaders.get(l) ?? 0) + 1);
  const cpuPercentOfOneCore = after.map((a, i) => Math.round(((a - before[i]) / seconds) * 1000) / 10);
  console.log(
    JSON.stringify({
      workload: "idle-cpu",
      partitions,
      replicationFactor: 3,
      startupSeconds: (created - t0) / 1000,
      secondsToAllLeaders: (allLed - created) / 1000,
      stillLedAtEnd: leadersAfter.size,
      leaderChangesInWindow: [...leadersBefore].filter(([p, l]) => leadersAfter.get(p) !== l).length,
      leadersPerBroker: Object.fromEntries([...leaders].sort((a, b) => a[0] - b[0])),
      idleCpuPercentOfOneCore: cpuPercentOfOneCore,
      windowSeconds: seconds,
      windowMonotonicUs: [String(windowStartUs), String(windowEndUs)],
    }),
  );
} finally {
  await client.close();
  // SIGTERM twice (graceful, then at once) so that `--cpu-prof` brokers write their profiles.
  await Promise.all(procs.map((p) => p.stop()));
  await env.close();
}

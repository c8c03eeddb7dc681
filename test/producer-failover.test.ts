/**
 * Producer - idempotent producers with five batches in flight (the client library's Producer,
 * maxInFlight 5, small batches) while the partition leader fails: three broker processes on a real
 * nats-server. First kill -9 of the leader: requests in flight to it are lost. Then SIGSTOP of the
 * leader: until NATS drops the paused connection, its subscription shares the partition's queue
 * group with the new leader's, so of a producer's batches some reach the new leader at once while
 * others sit in the paused process, and the ones behind those must not land first. After each, the
 * partition holds every acknowledged record once, at its offset, and each producer's records in
 * the order it sent them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Flotilla } from "../client/index.js";
import type { RecordMetadata } from "../client/types.js";
import { BrokerProcessHandle, CLUSTER, RawClient, eventually, natsAndDir, type TestNats } from "./broker-fixtures.js";

const TOPIC = "ordered";

describe("producer - leader failover with five batches in flight", () => {
  let env: TestNats;
  let procs: BrokerProcessHandle[] = [];
  let client: RawClient;
  let flotilla: Flotilla;

  before(async () => {
    env = await natsAndDir();
    procs = [1, 2, 3].map((id) => new BrokerProcessHandle(env, id, [1, 2, 3]));
    for (const p of procs) p.start();
    client = await RawClient.connect(env.server.url);
    flotilla = new Flotilla({ servers: env.server.url, cluster: CLUSTER, clientId: "failover-test", retry: { retries: 30, maxRetryTimeMs: 1000 } });
  });

  after(async () => {
    await flotilla?.disconnect();
    await client?.close();
    for (const p of procs) p.child?.kill("SIGCONT");
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    await env?.close();
  });

  const leaderOf = async (): Promise<number | undefined> => (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].leader;
  const allAlive = () => eventually("3 alive brokers", async () => ((await client.admin("describeCluster", {})).brokers.filter((b) => b.alive && !b.fenced).length === 3 ? true : undefined), 60_000);

  /** Two producers sending one-record messages, up to 25 unacknowledged each, values `<tag>p<n>-<i>`. */
  function startLoad(tag: string): { acked: Map<string, bigint>; stop(): Promise<number> } {
    const acked = new Map<string, bigint>();
    let stopped = false;
    const run = async (n: number): Promise<number> => {
      // Short timeouts, so requests lost with the leader are retried soon.
      const producer = flotilla.producer({ maxInFlight: 5, lingerMs: 1, batchBytes: 1024, timeoutMs: 1500 });
      await producer.connect();
      const outstanding = new Set<Promise<void>>();
      let i = 0;
      for (; !stopped; i++) {
        const value = `${tag}p${n}-${String(i).padStart(6, "0")}-${"x".repeat(200)}`;
        const p = producer.send({ topic: TOPIC, messages: [{ value }] }).then(([m]: RecordMetadata[]) => void acked.set(value, m.offset));
        outstanding.add(p);
        void p.finally(() => outstanding.delete(p)).catch(() => undefined);
        if (outstanding.size >= 25) await Promise.race(outstanding);
      }
      await Promise.all(outstanding);
      await producer.disconnect();
      return i;
    };
    const running = [1, 2].map(run);
    return {
      acked,
      async stop() {
        stopped = true;
        const sent = await Promise.all(running);
        return sent[0] + sent[1];
      },
    };
  }

  /** Reads the whole partition and checks it against what `tag`'s producers were acknowledged. */
  async function checkLog(tag: string, acked: Map<string, bigint>): Promise<number> {
    const log: Array<{ value: string; offset: bigint }> = [];
    let offset = 0n;
    for (;;) {
      const r = await flotilla.fetch({ topic: TOPIC, partition: 0, offset, maxWaitMs: 0, consistency: "linearizable" });
      for (const rec of r.records) log.push({ value: rec.value!.toString(), offset: rec.offset });
      offset = log.length > 0 ? log[log.length - 1].offset + 1n : 0n;
      if (offset >= r.highWatermark) break;
    }
    assert.deepEqual(log.map((g) => g.offset), log.map((_, k) => BigInt(k)), "offsets are dense");
    const at = new Map<string, bigint>();
    for (const g of log) {
      assert.equal(at.has(g.value), false, `${g.value.slice(0, 14)} lands once`);
      at.set(g.value, g.offset);
    }
    for (const [value, off] of acked) assert.equal(at.get(value), off, `acknowledged ${value.slice(0, 14)} is at ${off}`);
    for (const n of [1, 2]) {
      const mine = log.filter((g) => g.value.startsWith(`${tag}p${n}-`)).map((g) => g.value.slice(0, 14));
      assert.deepEqual(mine, [...mine].sort(), `producer ${n}'s records are in the order it sent them`);
    }
    return log.length;
  }

  it("kill -9 of the leader: no acknowledged record lost, none twice, each producer's order kept", async () => {
    await allAlive();
    await eventually("topic created", () => client.admin("createTopic", { topic: TOPIC, partitions: 1, replicationFactor: 3, configs: {} }, 20_000), 30_000, 500);
    const firstLeader = await eventually("a leader", leaderOf, 30_000);
    const load = startLoad("k");
    await eventually("load before the kill", () => (load.acked.size >= 300 ? true : undefined), 60_000, 50);
    const atKill = load.acked.size;
    await procs[firstLeader - 1].kill("SIGKILL");
    await eventually("a new leader", async () => ((await leaderOf()) ?? firstLeader) !== firstLeader || undefined, 60_000);
    await eventually("acks after the failover", () => (load.acked.size >= atKill + 300 ? true : undefined), 90_000, 50);
    const sent = await load.stop();
    const inLog = await checkLog("k", load.acked);
    assert.equal(load.acked.size, sent, "every send was acknowledged");
    console.log(`# producer failover: leader ${firstLeader} killed; ${load.acked.size} acknowledged, ${inLog} in the log`);
    procs[firstLeader - 1].start();
    await allAlive();
  });

  it("SIGSTOP of the leader: batches behind the ones stuck in it wait for them", async () => {
    const paused = await eventually("a leader", leaderOf, 30_000);
    const load = startLoad("s");
    await eventually("load before the pause", () => (load.acked.size >= 200 ? true : undefined), 60_000, 50);
    procs[paused - 1].child!.kill("SIGSTOP");
    const atPause = load.acked.size;
    try {
      await eventually("another leader", async () => ((await leaderOf()) ?? paused) !== paused || undefined, 60_000);
      await eventually("acks while paused", () => (load.acked.size >= atPause + 30 ? true : undefined), 90_000, 50);
    } finally {
      procs[paused - 1].child!.kill("SIGCONT");
    }
    const sent = await load.stop();
    const inLog = await checkLog("s", load.acked);
    assert.equal(load.acked.size, sent, "every send was acknowledged");
    console.log(`# producer pause: leader ${paused} paused; ${load.acked.size} acknowledged, ${inLog} in the log`);
  });
});

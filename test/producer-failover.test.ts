/**
 * Producer - kill -9 of the partition leader while idempotent producers have five batches in flight:
 * three broker processes on a real nats-server, the client library's Producer (maxInFlight 5, small
 * batches). Requests in flight to the killed leader are lost; the batches behind them must not land
 * first. Afterwards the partition holds every acknowledged record once, at its offset, and each
 * producer's records in the order it sent them.
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
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    await env?.close();
  });

  it("no acknowledged record is lost, none lands twice, each producer's records stay in its order", async () => {
    await eventually("3 alive brokers", async () => ((await client.admin("describeCluster", {})).brokers.filter((b) => b.alive && !b.fenced).length === 3 ? true : undefined), 60_000);
    await eventually("topic created", () => client.admin("createTopic", { topic: TOPIC, partitions: 1, replicationFactor: 3, configs: {} }, 20_000), 30_000, 500);
    const leaderOf = async (): Promise<number | undefined> => (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].leader;
    const firstLeader = await eventually("a leader", leaderOf, 30_000);

    const acked = new Map<string, bigint>();
    let stop = false;
    const run = async (n: number): Promise<number> => {
      // Short timeouts, so requests lost with the leader are retried soon.
      const producer = flotilla.producer({ maxInFlight: 5, lingerMs: 1, batchBytes: 1024, timeoutMs: 1500 });
      await producer.connect();
      const outstanding = new Set<Promise<void>>();
      let i = 0;
      for (; !stop; i++) {
        const value = `p${n}-${String(i).padStart(6, "0")}-${"x".repeat(200)}`;
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
    await eventually("load before the kill", () => (acked.size >= 300 ? true : undefined), 60_000, 50);
    const atKill = acked.size;
    await procs[firstLeader - 1].kill("SIGKILL");
    await eventually("a new leader", async () => ((await leaderOf()) ?? firstLeader) !== firstLeader || undefined, 60_000);
    await eventually("acks after the failover", () => (acked.size >= atKill + 300 ? true : undefined), 90_000, 50);
    stop = true;
    const sent = await Promise.all(running);

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
      assert.equal(at.has(g.value), false, `${g.value.slice(0, 12)} lands once`);
      at.set(g.value, g.offset);
    }
    for (const [value, off] of acked) assert.equal(at.get(value), off, `acknowledged ${value.slice(0, 12)} is at ${off}`);
    for (const n of [1, 2]) {
      const mine = log.filter((g) => g.value.startsWith(`p${n}-`)).map((g) => g.value.slice(0, 10));
      assert.deepEqual(mine, [...mine].sort(), `producer ${n}'s records are in the order it sent them`);
    }
    assert.equal(acked.size, sent[0] + sent[1], "every send was acknowledged");
    console.log(`# producer failover: leader ${firstLeader} killed; ${acked.size} acknowledged, ${log.length} in the log`);
  });
});

/**
 * Broker - follower lag and in-sync replicas: three brokers in this process on a real nats-server,
 * with fault control on. A follower whose Raft traffic is cut (its controller heartbeats still
 * flow, so it stays alive and unfenced) falls out of sync: `cluster describe` counts its partition
 * under-replicated and the leader's metrics show the follower's lag; healed, it is back in sync.
 * Then follower fetch: a fetch served by a follower, with a read index from the leader.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Flotilla } from "../client/index.js";
import { encodeRecordBatch } from "../protocol/record-batch.js";
import { subjects } from "../protocol/subjects.js";
import type { Broker } from "../broker/server/index.js";
import { encodeFaultMessage, type FaultCommand } from "../broker/server/fault-control-messages.js";
import { CLUSTER, RawClient, eventually, natsAndDir, startBrokers, type TestNats } from "./broker-fixtures.js";

const TOPIC = "lagging";

describe("broker - follower lag and under-replicated partitions", () => {
  let env: TestNats;
  let brokers: Broker[] = [];
  let client: RawClient;

  before(async () => {
    env = await natsAndDir();
    brokers = await startBrokers(env, [1, 2, 3], { faultControl: true, replicaLagMaxMs: 1500 });
    client = await RawClient.connect(env.server.url);
  });

  after(async () => {
    await client?.close();
    await Promise.all(brokers.map((b) => b.stop({ handOff: false })));
    await env?.close();
  });

  const fault = async (command: FaultCommand): Promise<void> => {
    for (const b of brokers) await client.nc.request(subjects.faultControl(CLUSTER, b.id), encodeFaultMessage(command), { timeout: 5000 });
  };
  const produce = (n: number) =>
    client.ok("produce", subjects.produce(CLUSTER, TOPIC, 0), { topic: TOPIC, partition: 0, acks: "all", timeoutMs: 5000, batchId: randomBytes(16), batch: encodeRecordBatch([{ key: null, value: Buffer.from(`r${n}`) }]) });

  it("a follower cut off from its leader makes the partition under-replicated while every broker stays alive", async () => {
    await eventually("3 alive brokers", async () => ((await client.admin("describeCluster", {})).brokers.filter((b) => b.alive).length === 3 ? true : undefined), 60_000);
    await eventually("topic created", () => client.admin("createTopic", { topic: TOPIC, partitions: 1, replicationFactor: 3, configs: {} }, 20_000), 30_000, 500);
    const leader = await eventually("a leader", async () => (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].leader, 30_000);
    for (let i = 0; i < 5; i++) await produce(i);
    await eventually("nothing under-replicated", async () => ((await client.admin("describeCluster", {})).underReplicated === 0 ? true : undefined), 30_000);

    const controller = (await client.admin("describeCluster", {})).controllerLeader;
    const follower = [1, 2, 3].find((id) => id !== leader && id !== controller)!;
    await fault({ type: "partition", sides: [[follower], [1, 2, 3].filter((id) => id !== follower)] });
    for (let i = 5; i < 10; i++) await produce(i);
    // Leadership may move meanwhile (a new leader counts in sync the followers it hears from
    // caught up), so wait for both views rather than reading them once.
    const inSync = [1, 2, 3].filter((id) => id !== follower).join();
    const d = await eventually("the partition under-replicated, the follower out of its ISR", async () => {
      const c = await client.admin("describeCluster", {});
      const isr = (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].isr;
      return c.underReplicated === 1 && isr && [...isr].sort().join() === inSync ? c : undefined;
    }, 30_000);
    assert.ok(d.brokers.every((b) => b.alive && !b.fenced), "every broker is alive: the count is about replication, not liveness");
    const leading = brokers.find((b) => b.replicaStatus().some((r) => r.topic === TOPIC && r.role === "leader"))!;
    const metrics = await leading.metrics.registry.metrics();
    const lag = new RegExp(`flotilla_follower_lag_entries\\{[^}]*topic="${TOPIC}",partition="0",follower="${follower}"[^}]*\\} (\\d+)`).exec(metrics);
    assert.ok(lag && Number(lag[1]) >= 5, `the leader reports the follower ${follower} behind by the 5 batches it missed: ${lag?.[0]}`);
    // At least this partition (the metadata log too, when this broker is also the controller leader).
    const under = /flotilla_under_replicated_partitions\{[^}]*\} (\d+)/.exec(metrics);
    assert.ok(under && Number(under[1]) >= 1, `the leader counts its under-replicated partitions: ${under?.[0]}`);

    await fault({ type: "reset" });
    await eventually("back in sync", async () => ((await client.admin("describeCluster", {})).underReplicated === 0 ? true : undefined), 30_000);
  });

  it("a follower serves a fetch with a read index from the leader: it sees the latest acknowledged record", async () => {
    const flotilla = new Flotilla({ servers: env.server.url, cluster: CLUSTER, clientId: "follower-fetch" });
    try {
      const leader = (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].leader!;
      const last = await produce(100);
      for (const readFrom of ["follower", "any"] as const) {
        const r = await flotilla.fetch({ topic: TOPIC, partition: 0, offset: last.baseOffset, maxWaitMs: 0, readFrom });
        assert.equal(r.records[0]?.value?.toString(), "r100", `readFrom ${readFrom} sees the record acknowledged just before`);
        assert.equal(r.highWatermark, last.baseOffset + 1n);
      }
      const served = async (b: Broker): Promise<number> => {
        const m = /flotilla_requests_total\{[^}]*type="replica_fetch",outcome="ok"[^}]*\} (\d+)/.exec(await b.metrics.registry.metrics());
        return m ? Number(m[1]) : 0;
      };
      const byFollowers = await Promise.all(brokers.filter((b) => b.id !== leader).map(served));
      assert.ok(byFollowers.reduce((a, b) => a + b, 0) >= 1, "a follower served it");
    } finally {
      await flotilla.disconnect();
    }
  });
});

/**
 * The leader's appends reach its followers through one multicast publish (CoalescingSender), so the
 * Raft bytes a leader sends stay near the bytes produced instead of once per follower. This runs the
 * whole path — producer, leader, Raft driver, transport, followers — in one process.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Broker } from "../broker/server/index.js";
import { startEmbeddedCluster } from "../testing/index.js";

async function raftBytesSent(broker: Broker): Promise<number> {
  const metric = broker.metrics.registry.getSingleMetric("flotilla_raft_transport_sent_bytes_total");
  assert.ok(metric, "the broker counts its Raft bytes");
  return (await metric.get()).values[0]?.value ?? 0;
}

describe("replication - multicast appends", () => {
  it("at replication factor 3 the leader sends each produced byte about once, and both followers hold every record", async () => {
    const cluster = await startEmbeddedCluster({ brokers: 3 });
    try {
      const flotilla = cluster.flotilla({ clientId: "multicast-test" });
      const admin = flotilla.admin();
      await admin.connect();
      await admin.createTopic({ topic: "bytes", partitions: 1, replicationFactor: 3 });
      const producer = flotilla.producer({ lingerMs: 1 });
      await producer.connect();
      await producer.send({ topic: "bytes", messages: [{ value: "warm-up" }] });
      const statusOn = (b: Broker) => b.replicaStatus().find((r) => r.topic === "bytes");
      const leader = cluster.brokers.find((b) => statusOn(b)?.role === "leader");
      assert.ok(leader, "a leader");
      const before = await raftBytesSent(leader);

      const value = Buffer.alloc(50 * 1024, 7);
      const records = 40;
      for (let i = 0; i < records; i += 8) await producer.send({ topic: "bytes", messages: Array.from({ length: 8 }, () => ({ value })) });
      const sent = (await raftBytesSent(leader)) - before;
      const produced = records * value.length;
      assert.ok(sent >= produced, `the leader sent ${sent} bytes for ${produced} produced`);
      assert.ok(sent < 1.5 * produced, `the leader sent ${sent} bytes for ${produced} produced: once, not once per follower`);

      for (const follower of cluster.brokers.filter((b) => b !== leader)) {
        const applied = (): bigint => statusOn(follower)?.highWatermark ?? -1n;
        for (let i = 0; i < 100 && applied() < BigInt(records + 1); i++) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(applied(), BigInt(records + 1), `broker ${follower.id} applied every record`);
      }
      await producer.disconnect();
      await admin.disconnect();
      await flotilla.disconnect();
    } finally {
      await cluster.stop();
    }
  });
});

/**
 * One client scenario — results and typed errors — run against an embedded cluster and against
 * brokers on a real nats-server: the in-process bus must make no difference an application can see.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Flotilla, FlotillaError } from "../client/index.js";
import { startEmbeddedCluster } from "../testing/index.js";
import { CLUSTER, eventually, natsAndDir, startBrokers } from "./broker-fixtures.js";

const TOPIC = "scenario";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "no error";
  } catch (e) {
    return e instanceof FlotillaError ? e.code : `not a FlotillaError: ${String(e)}`;
  }
}

async function scenario(flotilla: Flotilla): Promise<unknown> {
  const admin = flotilla.admin();
  await admin.connect();
  const producer = flotilla.producer({ lingerMs: 1 });
  await producer.connect();
  try {
    await admin.createTopic({ topic: TOPIC, partitions: 2, replicationFactor: 3 });
    const keys = ["alice", "bob", "carol", "dave", "erin", "frank"];
    const acks = await producer.send({ topic: TOPIC, messages: keys.map((key, i) => ({ key, value: `v${i}` })) });
    const partitions = [];
    for (const partition of [0, 1]) {
      const batch = await flotilla.fetch({ topic: TOPIC, partition, offset: 0n, maxWaitMs: 100 });
      partitions.push({ partition, highWatermark: batch.highWatermark, records: batch.records.map((r) => [r.offset, r.key?.toString(), r.value?.toString()]) });
    }
    // Not leaders or high watermarks: a describe takes them from the leaders' last heartbeat, a moment old by design.
    const described = await admin.describeTopic(TOPIC);
    return {
      acks,
      partitions,
      described: described.partitions.map((p) => ({ partition: p.partition, replicas: [...p.replicas].sort() })),
      errors: {
        createTwice: await codeOf(admin.createTopic({ topic: TOPIC, partitions: 1, replicationFactor: 1 })),
        tooManyReplicas: await codeOf(admin.createTopic({ topic: "wide", partitions: 1, replicationFactor: 5 })),
      },
    };
  } finally {
    await producer.disconnect();
    await admin.disconnect();
    await flotilla.disconnect();
  }
}

describe("client - the same scenario on an embedded cluster and on NATS", () => {
  it("gives the same acks, records, descriptions and error codes", async () => {
    const embedded = await startEmbeddedCluster({ cluster: CLUSTER });
    let onEmbedded: unknown;
    try {
      onEmbedded = await scenario(embedded.flotilla());
    } finally {
      await embedded.stop();
    }

    const env = await natsAndDir();
    const brokers = await startBrokers(env, [1, 2, 3]);
    let onNats: unknown;
    try {
      // startEmbeddedCluster waits for this by itself; brokers started one by one do not.
      await eventually("3 registered brokers and a controller leader", () =>
        brokers.some((b) => b.isControllerLeader) && brokers.every((b) => b.metadataImage.unfencedBrokers().length === 3) ? true : undefined,
      );
      onNats = await scenario(new Flotilla({ servers: env.server.url, cluster: CLUSTER, clientId: "scenario" }));
    } finally {
      await Promise.all(brokers.map((b) => b.stop({ handOff: false })));
      await env.close();
    }
    assert.deepEqual(onEmbedded, onNats);
    assert.deepEqual((onNats as { errors: unknown }).errors, { createTwice: "TOPIC_EXISTS", tooManyReplicas: "INVALID_REPLICATION_FACTOR" });
  });
});

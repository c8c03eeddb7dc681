import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FlotillaError } from "../protocol/errors.js";
import { CONSUMER_OFFSETS_TOPIC } from "../protocol/groups.js";
import { startEmbeddedCluster } from "./index.js";

describe(`embedded cluster - ${CONSUMER_OFFSETS_TOPIC} gets its full replication factor`, () => {
  it("is not created while fewer brokers are up than the cluster has: group requests get NOT_COORDINATOR until they are", async () => {
    const cluster = await startEmbeddedCluster({ brokerOptions: { sessionTimeoutMs: 1000 } });
    try {
      await cluster.brokers[2].stop({ handOff: false });
      const flotilla = cluster.flotilla({ retry: { retries: 2, initialRetryTimeMs: 50, maxRetryTimeMs: 100 } });
      const admin = flotilla.admin();
      await admin.connect();
      for (let t = Date.now(); (await admin.describeCluster()).brokers.find((b) => b.id === 3)?.fenced !== true; ) {
        assert.ok(Date.now() - t < 15_000, "broker 3 was never fenced");
        await new Promise((r) => setTimeout(r, 100));
      }
      await assert.rejects(admin.describeGroup("billing"), (e) => e instanceof FlotillaError && e.code === "NOT_COORDINATOR" && /needs 3 live brokers/.test(e.message));
      assert.ok(!(await admin.listTopics()).includes(CONSUMER_OFFSETS_TOPIC), `${CONSUMER_OFFSETS_TOPIC} was created with fewer than 3 replicas`);
      await admin.disconnect();
    } finally {
      await cluster.stop();
    }
  });

  it("a one-broker cluster gets one replica", async () => {
    const cluster = await startEmbeddedCluster({ brokers: 1 });
    try {
      const admin = cluster.flotilla().admin();
      await admin.connect();
      const d = await admin.describeGroup("billing");
      assert.equal(d.members.length, 0);
      const offsets = await admin.describeTopic(CONSUMER_OFFSETS_TOPIC);
      assert.ok(offsets.partitions.every((p) => p.replicas.length === 1));
      await admin.disconnect();
    } finally {
      await cluster.stop();
    }
  });
});

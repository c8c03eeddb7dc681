import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startEmbeddedCluster } from "./index.js";

describe("embedded cluster - consumer groups", () => {
  it("a group consumes what was produced, commits it, and a later member of the group reads only what came after", async () => {
    const cluster = await startEmbeddedCluster();
    try {
      const flotilla = cluster.flotilla({ clientId: "app-test" });
      const admin = flotilla.admin();
      await admin.connect();
      await admin.createTopic({ topic: "orders", partitions: 2, replicationFactor: 3 });
      await admin.disconnect();
      const producer = flotilla.producer({ lingerMs: 1 });
      await producer.connect();
      await producer.send({ topic: "orders", messages: ["a", "b", "c", "d"].map((value, i) => ({ value, partition: i % 2 })) });

      const readAll = async (n: number): Promise<string[]> => {
        const consumer = flotilla.consumer({ groupId: "app" });
        await consumer.connect();
        await consumer.subscribe({ topic: "orders", fromBeginning: true });
        const got: string[] = [];
        let enough!: () => void;
        const done = new Promise<void>((resolve) => (enough = resolve));
        await consumer.run({
          eachMessage: async ({ message }) => {
            got.push(message.value!.toString());
            if (got.length === n) enough();
          },
        });
        await done;
        await consumer.disconnect();
        return got.sort();
      };
      assert.deepEqual(await readAll(4), ["a", "b", "c", "d"]);
      await producer.send({ topic: "orders", messages: [{ value: "e", partition: 0 }] });
      await producer.disconnect();
      assert.deepEqual(await readAll(1), ["e"]);
      await admin.connect();
      const d = await admin.describeGroup("app");
      await admin.disconnect();
      assert.deepEqual(d.offsets.map((o) => [o.partition, o.offset]).sort(), [[0, 3n], [1, 2n]]);
      await flotilla.disconnect();
    } finally {
      await cluster.stop();
    }
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeCluster, fakeFlotilla } from "./test-support.js";
import type { Flotilla } from "./flotilla.js";

async function until<T>(what: string, check: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = check();
    if (v !== undefined) return v;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${what}: not reached`);
}

async function produce(flotilla: Flotilla, values: string[]): Promise<void> {
  const producer = flotilla.producer({ lingerMs: 0 });
  await producer.connect();
  await producer.send({ topic: "t", messages: values.map((value) => ({ value, partition: 0 })) });
  await producer.disconnect();
}

test("consumer - a slow eachMessage does not hold up heartbeats, and only finished records are committed", async () => {
  const cluster = new FakeCluster({ t: 1 });
  const flotilla = fakeFlotilla(cluster);
  await produce(flotilla, ["a", "b", "c"]);
  const consumer = flotilla.consumer({ groupId: "g" });
  await consumer.connect();
  await consumer.subscribe({ topic: "t", fromBeginning: true });
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const started: string[] = [];
  await consumer.run({
    autoCommitIntervalMs: 10,
    eachMessage: async ({ message }) => {
      started.push(message.value!.toString());
      if (message.value!.toString() === "b") await held;
    },
  });
  await until("b is being handled", () => (started.includes("b") ? true : undefined));
  const beats = cluster.count("heartbeat");
  await until("heartbeats go on while b is held", () => (cluster.count("heartbeat") >= beats + 5 ? true : undefined));
  await until("a is committed", () => (cluster.committed.get("t/0") === 1n ? true : undefined));
  assert.equal(cluster.committed.get("t/0"), 1n, "b is not finished: not committed");
  release();
  await until("everything is committed", () => (cluster.committed.get("t/0") === 3n ? true : undefined));
  await consumer.disconnect();
  assert.deepEqual(started, ["a", "b", "c"]);
  assert.equal(cluster.count("leaveGroup"), 1, "disconnect leaves the group");
});

test("consumer - a handler that throws gets the same record again; a later member of the group starts from the commit", async () => {
  const cluster = new FakeCluster({ t: 1 });
  const flotilla = fakeFlotilla(cluster);
  await produce(flotilla, ["a", "b", "c"]);
  const seen: string[] = [];
  let failures = 0;
  const first = flotilla.consumer({ groupId: "g" });
  await first.connect();
  await first.subscribe({ topic: "t", fromBeginning: true });
  await first.run({
    eachMessage: async ({ message }) => {
      const v = message.value!.toString();
      if (v === "b" && failures++ === 0) throw new Error("not yet");
      seen.push(v);
    },
  });
  await until("all handled", () => (seen.length === 3 ? true : undefined));
  await first.disconnect();
  assert.deepEqual(seen, ["a", "b", "c"]);
  assert.equal(cluster.committed.get("t/0"), 3n, "disconnect commits what was finished");

  await produce(flotilla, ["d"]);
  const second = flotilla.consumer({ groupId: "g" });
  await second.connect();
  await second.subscribe({ topic: "t", fromBeginning: true });
  const later: string[] = [];
  await second.run({ eachBatch: async ({ batch }) => void later.push(...batch.messages.map((m) => m.value!.toString())) });
  await until("d is handled", () => (later.length > 0 ? true : undefined));
  await second.disconnect();
  assert.deepEqual(later, ["d"]);
  assert.equal(cluster.committed.get("t/0"), 4n);
  await flotilla.disconnect();
});

test("consumer - bad calls get typed errors", async () => {
  const flotilla = fakeFlotilla(new FakeCluster({ t: 1 }));
  const consumer = flotilla.consumer({ groupId: "g" });
  await assert.rejects(consumer.run({ eachMessage: async () => undefined }), /not connected/);
  await consumer.connect();
  await assert.rejects(consumer.subscribe({ topic: "bad topic" }), (e: Error & { code?: string }) => e.code === "INVALID_TOPIC");
  await assert.rejects(consumer.run({ eachMessage: async () => undefined }), /subscribe to a topic first/);
  await assert.rejects(consumer.commitOffsets([{ topic: "t", partition: 0, offset: "-1" }]), /non-negative integer/);
  assert.throws(() => consumer.seek({ topic: "t", partition: 0, offset: "3" }), /not assigned/);
  await consumer.disconnect();
});

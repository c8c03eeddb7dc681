import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { FlotillaConnectionError, FlotillaError, type TopicDescription } from "../client/index.js";
import { startEmbeddedCluster } from "./index.js";

const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("embedded cluster - an application's test", () => {
  it("creates a topic, produces, fetches, describes and stops, removing its temporary directory", async () => {
    const cluster = await startEmbeddedCluster();
    try {
      assert.equal(cluster.brokers.length, 3);
      assert.ok(existsSync(cluster.dir));
      const flotilla = cluster.flotilla({ clientId: "app-test" });
      const admin = flotilla.admin();
      await admin.connect();
      await admin.createTopic({ topic: "orders", partitions: 2, replicationFactor: 3 });
      const producer = flotilla.producer({ lingerMs: 1 });
      await producer.connect();
      const acks = await producer.send({ topic: "orders", messages: [{ value: "a", partition: 1 }, { key: "k", value: "b", partition: 1, headers: { h: "x" } }] });
      assert.deepEqual(acks, [
        { topic: "orders", partition: 1, offset: 0n },
        { topic: "orders", partition: 1, offset: 1n },
      ]);
      const batch = await flotilla.fetch({ topic: "orders", partition: 1, offset: 0n, maxWaitMs: 100 });
      assert.equal(batch.highWatermark, 2n);
      assert.deepEqual(
        batch.records.map((r) => [r.offset, r.key?.toString() ?? null, r.value?.toString(), r.headers]),
        [
          [0n, null, "a", {}],
          [1n, "k", "b", { h: Buffer.from("x") }],
        ],
      );
      // A describe's leaders and high watermarks come from the leaders' heartbeats: a moment behind.
      const settled = (t: TopicDescription): boolean => t.partitions.every((p) => p.leader !== undefined) && t.partitions[1]?.highWatermark === 2n;
      let topic = await admin.describeTopic("orders");
      for (let i = 0; i < 100 && !settled(topic); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        topic = await admin.describeTopic("orders");
      }
      assert.deepEqual(topic.partitions.map((p) => [p.partition, [...p.replicas].sort(), p.highWatermark, p.leader !== undefined]), [
        [0, [1, 2, 3], 0n, true],
        [1, [1, 2, 3], 2n, true],
      ]);
      const described = await admin.describeCluster();
      assert.deepEqual(described.brokers.map((b) => [b.id, b.alive, b.fenced]), [
        [1, true, false],
        [2, true, false],
        [3, true, false],
      ]);
      await producer.disconnect();
      await admin.disconnect();
      await flotilla.disconnect();
    } finally {
      await cluster.stop();
    }
    assert.equal(existsSync(cluster.dir), false);
    await assert.rejects(cluster.flotilla().admin().connect(), (e) => e instanceof FlotillaConnectionError && /is stopped/.test(e.message));
  });

  it("keeps a directory it was given, and a restarted cluster on it still has the data", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-embedded-test-"));
    try {
      const first = await startEmbeddedCluster({ brokers: 1, dir });
      const admin = first.flotilla().admin();
      await admin.connect();
      await admin.createTopic({ topic: "kept", partitions: 1, replicationFactor: 1 });
      const producer = first.flotilla().producer();
      await producer.connect();
      await producer.send({ topic: "kept", messages: [{ value: "survives" }] });
      // Left connected on purpose: stop() closes clients' connections too.
      await first.stop();
      assert.ok(existsSync(join(dir, "broker-1")));

      const second = await startEmbeddedCluster({ brokers: 1, dir });
      try {
        const batch = await second.flotilla().fetch({ topic: "kept", partition: 0, offset: 0n, maxWaitMs: 100 });
        assert.deepEqual(batch.records.map((r) => r.value?.toString()), ["survives"]);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a partition leader cut off from its followers: produce goes on at a new leader, every acknowledged record once, in order", async () => {
    const cluster = await startEmbeddedCluster();
    try {
      const flotilla = cluster.flotilla();
      const admin = flotilla.admin();
      await admin.connect();
      await admin.createTopic({ topic: "split", partitions: 1, replicationFactor: 3 });
      const producer = flotilla.producer({ lingerMs: 1 });
      await producer.connect();
      const send = async (values: string[]): Promise<bigint[]> => (await producer.send({ topic: "split", messages: values.map((value) => ({ value })) })).map((a) => a.offset);
      assert.deepEqual(await send(["a", "b", "c"]), [0n, 1n, 2n]);
      // Brokers whose replica believes it leads (for a moment after the cut, the old leader too).
      const leaders = (): number[] => cluster.brokers.filter((b) => b.replicaStatus().some((r) => r.topic === "split" && r.role === "leader")).map((b) => b.id);
      const [old] = leaders();
      assert.ok(old !== undefined);
      cluster.faults.partition([old], [1, 2, 3].filter((id) => id !== old));

      // The old leader loses its quorum and steps down; the client retries until the new one answers.
      assert.deepEqual(await send(["d", "e"]), [3n, 4n]);
      assert.ok(leaders().some((id) => id !== old), `a broker other than ${old} leads`);
      cluster.faults.reset();
      const batch = await flotilla.fetch({ topic: "split", partition: 0, offset: 0n, maxWaitMs: 100 });
      assert.deepEqual(batch.records.map((r) => [r.offset, r.value?.toString()]), [
        [0n, "a"],
        [1n, "b"],
        [2n, "c"],
        [3n, "d"],
        [4n, "e"],
      ]);
      await producer.disconnect();
      await admin.disconnect();
    } finally {
      await cluster.stop();
    }
  });

  it("refuses bad options with one typed error naming every problem", async () => {
    await assert.rejects(
      startEmbeddedCluster({ brokers: 0, cluster: "no spaces allowed", readyTimeoutMs: -1 }),
      (e) => e instanceof FlotillaError && e.code === "INVALID_CONFIG" && /brokers 0/.test(e.message) && /cluster/i.test(e.message) && /readyTimeoutMs -1/.test(e.message),
    );
  });
});

describe("embedded cluster - the package's flotilla/testing export", () => {
  it("declares types and code that exist", () => {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { exports: Record<string, { types: string; import: string }> };
    const entry = pkg.exports["./testing"];
    assert.ok(entry, 'package.json exports "./testing"');
    assert.ok(existsSync(join(PACKAGE_ROOT, entry.types)), entry.types);
    assert.ok(existsSync(join(PACKAGE_ROOT, entry.import)), entry.import);
  });

  it("works from an application's process, which then exits by itself (no handle left open)", async () => {
    const script = `
      import { startEmbeddedCluster } from "flotilla/testing";
      const cluster = await startEmbeddedCluster({ brokers: 2 });
      const flotilla = cluster.flotilla();
      const admin = flotilla.admin();
      await admin.connect();
      await admin.createTopic({ topic: "t", partitions: 1, replicationFactor: 2 });
      const producer = flotilla.producer();
      await producer.connect();
      const [ack] = await producer.send({ topic: "t", messages: [{ value: "v" }] });
      await producer.disconnect();
      await admin.disconnect();
      await cluster.stop();
      console.log(JSON.stringify({ offset: String(ack.offset) }));
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: PACKAGE_ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    // A guard, not a measurement: a process held open by a forgotten handle never exits.
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
    clearTimeout(guard);
    assert.equal(signal, null, "the process had to be killed: something kept it alive after stop()");
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out.trim()), { offset: "0" });
  });
});

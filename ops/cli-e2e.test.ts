/**
 * End to end, as a user runs it: the real `flotilla dev` (nats-server + 3 broker processes), then
 * `flotilla topic create/describe`, `produce`, `consume --json` (with and without a group), `group
 * describe/list/reset-offsets` and `cluster describe` as child
 * processes, checking the JSON shapes of CONTRACTS.md; the client library against the same
 * cluster; and finally SIGTERM to `flotilla dev`, after which no process it started is left.
 * Deadlines are generous; nothing asserts a duration.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Flotilla, partitionForKey } from "../client/index.js";

const CLI = fileURLToPath(new URL("./cli.js", import.meta.url));
const CLUSTER = "clie2e";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], stdin = "", timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`flotilla ${args.join(" ")}: no exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

function jsonLines(r: Result): Array<Record<string, unknown>> {
  return r.stdout.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (${String((last as Error)?.message ?? last)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("cli e2e - flotilla dev, topic create/describe, produce, consume --json, consumer groups, cluster describe, the library through a leader kill -9, clean stop", { timeout: 150_000 }, async () => {
  const dev: ChildProcess = spawn(process.execPath, [CLI, "dev", "--brokers", "3", "--cluster", CLUSTER, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  let devErr = "";
  dev.stderr!.on("data", (d) => (devErr += d));
  const devExit = new Promise<number | null>((resolve) => dev.once("exit", (code) => resolve(code)));
  try {
    const first = await Promise.race([
      new Promise<string>((resolve) => createInterface({ input: dev.stdout! }).once("line", resolve)),
      devExit.then((code) => Promise.reject(new Error(`flotilla dev exited (${code}): ${devErr}`))),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`flotilla dev not ready in 90 s: ${devErr}`)), 90_000).unref()),
    ]);
    const info = JSON.parse(first) as { nats: string; natsPid: number; cluster: string; controllerLeader: number; brokers: Array<{ id: number; pid: number; metricsPort: number }> };
    assert.equal(info.cluster, CLUSTER);
    assert.match(info.nats, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(info.brokers.map((b) => b.id), [1, 2, 3]);
    assert.ok(info.brokers.every((b) => b.pid > 0 && b.metricsPort > 0));
    assert.ok(info.natsPid > 0, "flotilla dev started its own nats-server");
    const at = ["--nats", info.nats, "--cluster", CLUSTER];

    const metrics = await fetch(`http://127.0.0.1:${info.brokers[0].metricsPort}/metrics`).then((r) => r.text());
    assert.match(metrics, /^flotilla_/m);

    const created = await run(["topic", "create", "events", "--partitions", "3", "--replication-factor", "3", "--json", ...at]);
    assert.equal(created.code, 0, created.stderr);
    assert.deepEqual(jsonLines(created), [{ topic: "events", partitions: 3, replicationFactor: 3, configs: {} }]);

    const described = await eventually("every partition has a leader", async () => {
      const r = await run(["topic", "describe", "events", "--json", ...at]);
      assert.equal(r.code, 0, r.stderr);
      const docs = jsonLines(r);
      assert.equal(docs.length, 1, "exactly one JSON document");
      const d = docs[0] as { topic: string; partitions: Array<Record<string, unknown>> };
      return d.partitions.every((p) => typeof p.leader === "number") ? d : undefined;
    });
    assert.equal(described.topic, "events");
    assert.deepEqual(described.partitions.map((p) => p.partition), [0, 1, 2]);
    for (const p of described.partitions) {
      assert.deepEqual([...(p.replicas as number[])].sort(), [1, 2, 3]);
      assert.ok((p.replicas as number[]).includes(p.leader as number));
      assert.match(p.highWatermark as string, /^\d+$/);
      assert.match(p.logStartOffset as string, /^\d+$/);
    }

    const produced = await run(["produce", "events", "--key", "user-7", "--json", ...at], "first\nsecond\nthird\n");
    assert.equal(produced.code, 0, produced.stderr);
    const acks = jsonLines(produced);
    const partition = partitionForKey(Buffer.from("user-7"), 3);
    assert.deepEqual(acks, [
      { topic: "events", partition, offset: "0" },
      { topic: "events", partition, offset: "1" },
      { topic: "events", partition, offset: "2" },
    ]);
    const keyless = await run(["produce", "events", "--partition", "0", ...at], "fourth\n");
    assert.equal(keyless.code, 0, keyless.stderr);
    assert.match(keyless.stdout, /^events partition 0 offset \d+\n$/);

    const consumed = await run(["consume", "events", "--partition", String(partition), "--offset", "0", "--max", "3", "--json", ...at]);
    assert.equal(consumed.code, 0, consumed.stderr);
    const records = jsonLines(consumed);
    assert.equal(records.length, 3);
    records.forEach((r, i) => {
      assert.deepEqual(Object.keys(r), ["topic", "partition", "offset", "key", "value", "timestamp"]);
      assert.deepEqual({ ...r, timestamp: 0 }, { topic: "events", partition, offset: String(i), key: "user-7", value: ["first", "second", "third"][i], timestamp: 0 });
      assert.equal(typeof r.timestamp, "number");
    });
    const all = await run(["consume", "events", "--from-beginning", "--max", "4", "--json", ...at]);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(jsonLines(all).map((r) => r.value).sort(), ["first", "fourth", "second", "third"]);

    // A consumer group: reads everything once, commits what it printed, and can be moved back.
    const grouped = await run(["consume", "events", "--group", "cli", "--from-beginning", "--max", "4", "--json", ...at]);
    assert.equal(grouped.code, 0, grouped.stderr);
    assert.deepEqual(jsonLines(grouped).map((r) => r.value).sort(), ["first", "fourth", "second", "third"]);
    const group = await run(["group", "describe", "cli", "--json", ...at]);
    assert.equal(group.code, 0, group.stderr);
    const g = jsonLines(group)[0] as { state: string; members: unknown[]; offsets: Array<{ offset: string }> };
    assert.deepEqual([g.state, g.members], ["empty", []]);
    assert.equal(g.offsets.reduce((sum, o) => sum + Number(o.offset), 0), 4, "the four printed records are committed");
    const listed = await run(["group", "list", "--json", ...at]);
    assert.deepEqual(jsonLines(listed), [{ groups: [{ groupId: "cli", state: "empty", members: 0 }] }]);
    const reset = await run(["group", "reset-offsets", "cli", "--topic", "events", "--to-earliest", "--json", ...at]);
    assert.equal(reset.code, 0, reset.stderr);
    assert.deepEqual((jsonLines(reset)[0] as { offsets: Array<{ offset: string }> }).offsets.map((o) => o.offset), ["0", "0", "0"]);

    const cluster = await run(["cluster", "describe", "--json", ...at]);
    assert.equal(cluster.code, 0, cluster.stderr);
    const c = jsonLines(cluster)[0] as { controllerLeader: number; brokers: Array<Record<string, unknown>>; partitions: number; underReplicated: number };
    assert.ok([1, 2, 3].includes(c.controllerLeader));
    assert.deepEqual(c.brokers.map((b) => [b.id, b.alive, b.fenced]), [[1, true, false], [2, true, false], [3, true, false]]);
    assert.ok(c.partitions >= 3);
    assert.equal(typeof c.underReplicated, "number");

    // The library against the same cluster.
    const flotilla = new Flotilla({ servers: info.nats, cluster: CLUSTER, clientId: "e2e" });
    const producer = flotilla.producer({ acks: "all", lingerMs: 5 });
    await producer.connect();
    const sent = await producer.send({ topic: "events", messages: [{ key: "user-7", value: "lib-1", headers: { h: "x" } }, { key: "user-7", value: "lib-2" }] });
    await producer.disconnect();
    assert.deepEqual(sent.map((s) => [s.partition, s.offset]), [[partition, 3n], [partition, 4n]]);
    const batch = await flotilla.fetch({ topic: "events", partition, offset: 3n, maxBytes: 1 << 20, maxWaitMs: 1000 });
    assert.deepEqual(batch.records.map((r) => r.value?.toString()), ["lib-1", "lib-2"]);
    assert.equal(batch.records[0].headers.h?.toString(), "x");
    assert.ok(batch.highWatermark >= 5n);

    // Leader failover under produce: kill -9 the partition's leader; the producer retries (same
    // UUIDs) and every record is there once, in order.
    const created2 = await run(["topic", "create", "failover", "--partitions", "1", "--replication-factor", "3", ...at]);
    assert.equal(created2.code, 0, created2.stderr);
    const admin = flotilla.admin();
    await admin.connect();
    const leader = await eventually("failover has a leader", async () => (await admin.describeTopic("failover")).partitions[0].leader);
    await admin.disconnect();
    const fp = flotilla.producer({ acks: "all", lingerMs: 1, maxInFlight: 1 });
    await fp.connect();
    const offsets: bigint[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === 20) process.kill(info.brokers.find((b) => b.id === leader)!.pid, "SIGKILL");
      offsets.push((await fp.send({ topic: "failover", messages: [{ value: `f${i}` }] }))[0].offset);
    }
    await fp.disconnect();
    assert.deepEqual(offsets, Array.from({ length: 60 }, (_, i) => BigInt(i)), "one offset per record, in order");
    const values: string[] = [];
    for (let offset = 0n; values.length < 60; ) {
      const r = await flotilla.fetch({ topic: "failover", partition: 0, offset, maxWaitMs: 1000 });
      assert.ok(r.records.length > 0, `records after offset ${offset}`);
      for (const rec of r.records) values.push(rec.value!.toString());
      offset = r.records[r.records.length - 1].offset + 1n;
    }
    await flotilla.disconnect();
    assert.deepEqual(values, Array.from({ length: 60 }, (_, i) => `f${i}`), "no duplicate, no gap, no reordering");

    // Errors: a clear message and a non-zero exit.
    const missing = await run(["topic", "describe", "nope", ...at]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /UNKNOWN_TOPIC/);

    dev.kill("SIGTERM");
    assert.equal(await devExit, 0, devErr);
    assert.match(devErr, new RegExp(`broker ${leader} exited`), "flotilla dev reports the broker that died");
    await eventually("every process flotilla dev started is gone", async () => (info.brokers.every((b) => !alive(b.pid)) && !alive(info.natsPid) ? true : undefined), 20_000);
  } finally {
    if (dev.exitCode === null && dev.signalCode === null) {
      dev.kill("SIGTERM");
      await Promise.race([devExit, new Promise((r) => setTimeout(r, 20_000))]);
      if (dev.exitCode === null) dev.kill("SIGKILL");
    }
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Readable } from "node:stream";
import { FlotillaError } from "../protocol/errors.js";
import { FakeCluster } from "../client/test-support.js";
import { parseArgs } from "./cli-args.js";
import { describeError, parseCommand, runCli, UsageError } from "./cli.js";

interface Run {
  code: number;
  out: string;
  err: string;
  lines: unknown[];
}

async function cli(argv: string[], cluster = new FakeCluster(), stdin = ""): Promise<Run> {
  let out = "";
  let err = "";
  const code = await runCli(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    stdin: Readable.from([stdin]),
    connect: async () => cluster,
  });
  const lines = argv.includes("--json") ? out.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l)) : [];
  return { code, out, err, lines };
}

test("cli args - every problem at once: unknown flags, bad numbers, missing values and arguments", () => {
  assert.throws(
    () => parseCommand(["topic", "create", "--partitions", "x", "--replication-factor", "0", "--frob", "--config", "noequals"]),
    (e: unknown) =>
      e instanceof UsageError &&
      e.problems.length === 5 &&
      /--partitions "x"/.test(e.problems.join()) &&
      /--replication-factor "0" must be a whole number ≥ 1/.test(e.problems.join()) &&
      /unknown option --frob/.test(e.problems.join()) &&
      /must be key=value/.test(e.problems.join()) &&
      /NAME is required/.test(e.problems.join()),
  );
  const p = parseArgs(["--config", "a=1", "b=2", "--config=c=3", "--json", "x"], { config: { kind: "kv", help: "" }, json: { kind: "bool", help: "" } });
  assert.deepEqual(p.flags.get("config"), { a: "1", b: "2", c: "3" });
  assert.deepEqual(p.positionals, ["x"]);
  assert.deepEqual(p.problems, []);
});

test("cli - usage errors exit 2 on stderr with a pointer to --help; --help exits 0 on stdout", async () => {
  const r = await cli(["consume", "t", "--offset", "3", "--from-beginning", "--max", "0"]);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.match(r.err, /3 problems/);
  assert.match(r.err, /--offset needs --partition/);
  assert.match(r.err, /not both/);
  assert.match(r.err, /flotilla consume --help/);
  const h = await cli(["topic", "create", "--help"]);
  assert.equal(h.code, 0);
  assert.match(h.out, /usage: flotilla topic create NAME --partitions P --replication-factor R/);
  assert.equal((await cli(["nope"])).code, 2);
  const both = await cli(["reassign", "cancel", "--plan", "p.json", "--topic", "t"]);
  assert.equal(both.code, 2);
  assert.match(both.err, /give --plan FILE, or --topic T with --partition P/);
  const missingPlan = await cli(["reassign", "verify", "--plan", "/nonexistent/plan.json"]);
  assert.equal(missingPlan.code, 1);
  assert.match(missingPlan.err, /cannot read the plan \/nonexistent\/plan.json.*reassign generate/);
  // `broker` runs a broker; `broker decommission` is an operation on one.
  assert.equal((parseCommand(["broker", "decommission", "--id", "4"]) as { name: string }).name, "broker decommission");
  assert.equal((parseCommand(["broker", "--id", "1", "--dir", "d", "--controllers", "1"]) as { name: string }).name, "broker");
  const commands = [["dev"], ["broker"], ["produce"], ["consume"], ["cluster", "describe"], ["topic", "list"], ["topic", "describe"], ["topic", "delete"], ["group", "list"], ["group", "describe"], ["group", "reset-offsets"]];
  commands.push(["reassign", "generate"], ["reassign", "execute"], ["reassign", "verify"], ["reassign", "cancel"], ["leader", "transfer"], ["leader", "rebalance"], ["broker", "decommission"]);
  for (const c of commands) {
    const x = await cli([...c, "--help"]);
    assert.equal(x.code, 0, c.join(" "));
    assert.match(x.out, /^usage: flotilla /);
  }
});

test("cli - topic create/describe/list/delete and cluster describe print the JSON shapes of CONTRACTS.md", async () => {
  const c = new FakeCluster();
  const created = await cli(["topic", "create", "orders", "--partitions", "2", "--replication-factor", "3", "--config", "retention.ms=1000", "--json", "--cluster", "test"], c);
  assert.equal(created.code, 0, created.err);
  assert.deepEqual(created.lines, [{ topic: "orders", partitions: 2, replicationFactor: 3, configs: { "retention.ms": "1000" } }]);
  const d = await cli(["topic", "describe", "orders", "--json"], c);
  assert.equal(d.lines.length, 1);
  assert.deepEqual(d.lines[0], {
    topic: "orders",
    partitions: [
      { partition: 0, replicas: [1, 2, 3], leader: 1, highWatermark: "0", logStartOffset: "0" },
      { partition: 1, replicas: [1, 2, 3], leader: 1, highWatermark: "0", logStartOffset: "0" },
    ],
    configs: {},
  });
  assert.deepEqual((await cli(["topic", "list", "--json"], c)).lines, [{ topics: ["orders"] }]);
  const cl = await cli(["cluster", "describe", "--json"], c);
  assert.deepEqual(Object.keys(cl.lines[0] as object), ["controllerLeader", "brokers", "partitions", "underReplicated"]);
  assert.deepEqual((cl.lines[0] as { brokers: unknown[] }).brokers[0], { id: 1, alive: true, fenced: false, leaders: 0, replicas: 0 });
  const again = await cli(["topic", "create", "orders", "--partitions", "1", "--replication-factor", "1"], c);
  assert.equal(again.code, 1);
  assert.match(again.err, /TOPIC_EXISTS/);
  assert.match(again.err, /flotilla topic delete orders/);
  assert.deepEqual((await cli(["topic", "delete", "orders", "--json"], c)).lines, [{ topic: "orders", deleted: true }]);
});

test("cli - produce reads stdin lines and prints one JSON object per record; consume prints them back", async () => {
  const c = new FakeCluster({ t: 2 });
  const p = await cli(["produce", "t", "--key", "k1", "--json"], c, "one\ntwo\nthree\n");
  assert.equal(p.code, 0, p.err);
  assert.deepEqual(p.lines, [
    { topic: "t", partition: 1, offset: "0" },
    { topic: "t", partition: 1, offset: "1" },
    { topic: "t", partition: 1, offset: "2" },
  ]);
  const text = await cli(["produce", "t", "--partition", "0"], c, "x\n");
  assert.equal(text.out, "t partition 0 offset 0\n");
  const r = await cli(["consume", "t", "--from-beginning", "--partition", "1", "--max", "2", "--json"], c);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.lines.length, 2);
  const first = r.lines[0] as Record<string, unknown>;
  assert.deepEqual(Object.keys(first), ["topic", "partition", "offset", "key", "value", "timestamp"]);
  assert.deepEqual({ ...first, timestamp: 0 }, { topic: "t", partition: 1, offset: "0", key: "k1", value: "one", timestamp: 0 });
  assert.equal(typeof first.timestamp, "number");
  const o = await cli(["consume", "t", "--partition", "1", "--offset", "2", "--max", "1"], c);
  assert.equal(o.out, "three\n");
  const bad = await cli(["produce", "t", "--partition", "9"], c, "x\n");
  assert.equal(bad.code, 1);
  assert.match(bad.err, /INVALID_PARTITION/);
});

test("cli - group commands check their flags; unknown topics say how to create one", async () => {
  const g = await cli(["consume", "t", "--group", "g", "--partition", "1"]);
  assert.equal(g.code, 2);
  assert.match(g.err, /--group reads the partitions the group assigns/);
  const r = await cli(["group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--to-offset", "3"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /exactly one of --to-earliest, --to-latest, --to-offset/);
  const h = await cli(["group", "--help"]);
  assert.match(h.out, /group reset-offsets/);
  const u = await cli(["produce", "missing"], new FakeCluster(), "x\n");
  assert.equal(u.code, 1);
  assert.match(u.err, /UNKNOWN_TOPIC/);
  assert.match(u.err, /topic create/);
  assert.match(describeError(new FlotillaError("INVALID_REPLICATION_FACTOR"), "topic create"), /live brokers/);
});

test("cli - dev --embedded runs every broker in this process, shows their metrics and the demo round trip, and stops on interrupt", async () => {
  let out = "";
  let err = "";
  let printed!: () => void;
  const shown = new Promise<void>((resolve) => (printed = resolve));
  let metrics = "";
  const code = await runCli(["dev", "--embedded", "--brokers", "1", "--cluster", "embeddedcli", "--json"], {
    stdout: { write: (s: string) => ((out += s), printed()) },
    stderr: { write: (s: string) => (err += s) },
    stdin: Readable.from([""]),
    // "Ctrl-C" once the cluster is shown, after reading one broker's metrics while it runs.
    interrupted: async () => {
      await shown;
      metrics = await (await fetch((JSON.parse(out) as { brokers: Array<{ metrics: string }> }).brokers[0]!.metrics)).text();
    },
  });
  assert.equal(code, 0, err);
  const info = JSON.parse(out) as {
    embedded: boolean;
    cluster: string;
    dir: string;
    controllerLeader: number;
    brokers: Array<{ id: number; metricsPort: number }>;
    demo: { replicationFactor: number; produced: Array<{ value: string; partition: number; offset: string }>; consumed: Array<{ partition: number; records: Array<{ offset: string; value: string }> }> };
  };
  assert.equal(info.embedded, true);
  assert.equal(info.cluster, "embeddedcli");
  assert.equal(info.controllerLeader, 1);
  assert.deepEqual(info.brokers.map((b) => [b.id, b.metricsPort > 0]), [[1, true]]);
  assert.match(metrics, /^flotilla_/m);
  assert.equal(info.demo.replicationFactor, 1);
  const consumed = info.demo.consumed.flatMap((c) => c.records.map((r) => [c.partition, r.offset, r.value]));
  assert.deepEqual(consumed.sort(), info.demo.produced.map((p) => [p.partition, p.offset, p.value]).sort());
  assert.equal(consumed.length, 5);
  assert.match(err, /stopping the brokers/);
  assert.equal(existsSync(info.dir), false, "the temporary directory is removed");
});

test("cli - flotilla dev --embedded as a process: SIGINT stops it, it exits 0 and removes its directory", async () => {
  const child = spawn(process.execPath, [fileURLToPath(new URL("./cli.js", import.meta.url)), "dev", "--embedded", "--brokers", "1", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once("line", resolve));
  const info = JSON.parse(line) as { nats: null; dir: string; demo: { produced: unknown[] } };
  assert.equal(info.nats, null);
  assert.equal(info.demo.produced.length, 5);
  child.kill("SIGINT");
  // A guard, not a measurement: a process held open by a forgotten handle would never exit.
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  assert.equal(await exited, 0, err);
  clearTimeout(guard);
  assert.equal(existsSync(info.dir), false);
});

test("cli - dev --embedded refuses --nats: there is no NATS in embedded mode", async () => {
  const r = await cli(["dev", "--embedded", "--nats", "nats://127.0.0.1:4222"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /leave out --nats/);
});

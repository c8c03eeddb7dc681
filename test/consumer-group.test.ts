/**
 * Consumer groups - three broker processes on a real nats-server; a group reads a 6-partition
 * topic while records keep coming and members join, leave, and are killed (a consumer process
 * killed -9), then the broker coordinating the group (leading its `__consumer_offsets` partition)
 * is killed -9. Every produced record is consumed; joins and leaves re-read nothing (a partition
 * moves only after its old owner committed it); only the crashes cause re-reads, and the committed
 * offsets survive the coordinator's death (the group does not start over). Then the coordinator is
 * fed random and mutated requests.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { Flotilla, type Consumer } from "../client/index.js";
import { CONSUMER_OFFSETS_PARTITIONS, CONSUMER_OFFSETS_TOPIC, groupPartition } from "../protocol/groups.js";
import { randomBytes } from "node:crypto";
import { FlotillaError } from "../protocol/errors.js";
import { decodeResponse, encodeRequest, type RequestType } from "../protocol/requests.js";
import { subjects } from "../protocol/subjects.js";
import { BrokerProcessHandle, CLUSTER, RawClient, eventually, natsAndDir, type TestNats } from "./broker-fixtures.js";

const TOPIC = "events";
const GROUP = "billing";
const CHILD = fileURLToPath(new URL("./consumer-child.js", import.meta.url));

interface Seen {
  who: string;
  partition: number;
  offset: bigint;
  value: string;
}

describe("consumer groups - joins, leaves and kills over real broker processes", () => {
  let env: TestNats;
  let brokers: BrokerProcessHandle[] = [];
  let flotilla: Flotilla;
  const consumers: Consumer[] = [];
  let child: ChildProcess | undefined;
  const seen: Seen[] = [];
  let produced = 0;

  before(async () => {
    env = await natsAndDir();
    brokers = [1, 2, 3].map((id) => new BrokerProcessHandle(env, id, [1, 2, 3]));
    for (const b of brokers) b.start();
    flotilla = new Flotilla({ servers: env.server.url, cluster: CLUSTER, retry: { retries: 20, maxRetryTimeMs: 1000 } });
  });

  after(async () => {
    child?.kill("SIGKILL");
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
    await flotilla?.disconnect();
    await Promise.all(brokers.map((b) => b.kill("SIGTERM")));
    await env?.close();
  });

  async function produce(n: number): Promise<void> {
    const producer = flotilla.producer({ lingerMs: 1 });
    await producer.connect();
    const messages = Array.from({ length: n }, (_, i) => ({ value: `v${produced + i}`, partition: (produced + i) % 6 }));
    await producer.send({ topic: TOPIC, messages });
    await producer.disconnect();
    produced += n;
  }

  async function startConsumer(who: string): Promise<Consumer> {
    const c = flotilla.consumer({ groupId: GROUP, sessionTimeoutMs: 6000 });
    await c.connect();
    await c.subscribe({ topic: TOPIC, fromBeginning: true });
    await c.run({ autoCommitIntervalMs: 200, eachMessage: async ({ partition, message }) => void seen.push({ who, partition, offset: message.offset, value: message.value!.toString() }) });
    consumers.push(c);
    return c;
  }

  function startChild(): Promise<void> {
    child = spawn(process.execPath, [CHILD, env.server.url, CLUSTER, GROUP, TOPIC], { stdio: ["ignore", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout! });
    return new Promise((resolve) => {
      lines.on("line", (line) => {
        if (line === "joined") return resolve();
        const r = JSON.parse(line) as { partition: number; offset: string; value: string };
        seen.push({ who: "child", partition: r.partition, offset: BigInt(r.offset), value: r.value });
      });
    });
  }

  /** Waits until every record produced so far was consumed; returns how many were consumed more than once. */
  async function allConsumed(what: string): Promise<number> {
    return eventually(what, () => {
      const values = new Set(seen.map((s) => s.value));
      return values.size === produced ? seen.length - values.size : undefined;
    }, 60_000);
  }

  it("a group consumes every record while members join and leave, reading none twice", async () => {
    const admin = flotilla.admin();
    await admin.connect();
    await eventually("3 live brokers", async () => ((await admin.describeCluster()).brokers.filter((b) => b.alive && !b.fenced).length === 3 ? true : undefined));
    await admin.createTopic({ topic: TOPIC, partitions: 6, replicationFactor: 3 });
    await admin.disconnect();
    await produce(300);
    await startConsumer("a");
    await allConsumed("one member reads everything");
    await startChild();
    await produce(300);
    const c = await startConsumer("c");
    await admin.connect();
    await eventually("three members share the partitions", async () => {
      const d = await admin.describeGroup(GROUP);
      return d.state === "stable" && d.members.length === 3 && d.members.every((m) => m.assignment.flatMap((a) => a.partitions).length === 2) ? true : undefined;
    });
    await admin.disconnect();
    await produce(300);
    assert.equal(await allConsumed("three members"), 0, "joins re-read nothing");
    await c.disconnect();
    consumers.splice(consumers.indexOf(c), 1);
    await produce(300);
    assert.equal(await allConsumed("after c left"), 0, "a leave re-reads nothing");
    for (const who of ["a", "c", "child"]) assert.ok(seen.some((s) => s.who === who), `${who} consumed something`);
    const byPartition = new Map<string, bigint>();
    for (const s of seen) {
      const k = `${s.who}/${s.partition}`;
      assert.ok((byPartition.get(k) ?? -1n) < s.offset || s.who === "child", `${k} reads in order`);
      byPartition.set(k, s.offset);
    }
  });

  it("a member killed -9 has its partitions taken over after its session timeout; the coordinator's kill -9 loses no commit", async () => {
    const before = seen.length;
    child!.kill("SIGKILL");
    await produce(300);
    const afterMemberKill = await allConsumed("after the kill of a member");
    const first = new Map<string, string>();
    for (const x of seen) {
      if (first.has(x.value)) assert.equal(first.get(x.value), "child", `${x.value} read twice, though not first by the killed member`);
      else first.set(x.value, x.who);
    }
    const admin = flotilla.admin();
    await admin.connect();
    const offsets = await admin.describeTopic(CONSUMER_OFFSETS_TOPIC);
    const leader = offsets.partitions[groupPartition(GROUP)].leader!;
    const membersBefore = await eventually("the killed member removed", async () => {
      const g = await admin.describeGroup(GROUP);
      return g.state === "stable" && g.members.length === consumers.length ? g.members.map((m) => m.memberId) : undefined;
    });
    const consumedBeforeKill = new Set(seen.map((s) => s.value)).size;
    await brokers[leader - 1].kill("SIGKILL");
    await produce(300);
    const d = await startConsumer("d");
    const dups = await allConsumed("after the coordinator's kill");
    // The new coordinator restored the membership from the offsets partition: nobody joined again.
    const membersAfter = await eventually("d joined the restored group", async () => {
      const g = await admin.describeGroup(GROUP);
      return g.members.length === consumers.length ? g.members.map((m) => m.memberId) : undefined;
    });
    assert.deepEqual(membersBefore.filter((id) => !membersAfter.includes(id)), [], "members of the old coordinator kept their membership");
    await admin.disconnect();
    brokers[leader - 1].start();
    console.log(`# records read twice: ${afterMemberKill} after a member's kill -9, ${dups - afterMemberKill} more after the coordinator's; ${consumedBeforeKill} consumed before the coordinator's`);
    assert.ok(dups < consumedBeforeKill / 2, `${dups} records read twice: the committed offsets survived (not ${consumedBeforeKill} re-read)`);
    assert.ok(seen.length > before);
    await d.disconnect();
  });

  it("a coordinator answers random and mutated group requests with typed errors (never INTERNAL) and keeps serving", async () => {
    const client = await RawClient.connect(env.server.url);
    try {
      const groupId = "fuzzed";
      const subject = subjects.group(CLUSTER, groupPartition(groupId));
      const owned = [{ topic: TOPIC, partitions: [0, 1] }];
      const seeds: Array<[RequestType, Uint8Array]> = [
        ["joinGroup", encodeRequest("joinGroup", { groupId, clientId: "fuzz", topics: [TOPIC], sessionTimeoutMs: 1000, rebalanceTimeoutMs: 1000 })],
        ["heartbeat", encodeRequest("heartbeat", { groupId, memberId: "m", generation: 3, owned })],
        ["commitOffsets", encodeRequest("commitOffsets", { groupId, offsets: [{ topic: TOPIC, partition: 1, offset: 5n }] })],
        ["fetchOffsets", encodeRequest("fetchOffsets", { groupId, partitions: owned })],
        ["describeGroup", encodeRequest("describeGroup", { groupId })],
      ];
      await eventually("the coordinator serves", async () => (await client.ok("describeGroup", subject, { groupId })).groupId);
      const codes = new Map<string, number>();
      for (let i = 0; i < 600; i++) {
        const [type, seed] = seeds[i % seeds.length];
        const bytes = i % 5 === 0 ? randomBytes(i % 97) : Buffer.from(seed);
        if (i % 5 !== 0) for (let k = 1 + (i % 3); k > 0; k--) bytes[Math.floor(Math.random() * bytes.length)] = Math.floor(Math.random() * 256);
        const r = decodeResponse(type, await client.send(subject, bytes, 10_000));
        const code = r.error ? FlotillaError.fromWire(r.error).code : "ok";
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
      assert.equal(codes.get("INTERNAL"), undefined, JSON.stringify([...codes]));
      assert.ok((codes.get("INVALID_REQUEST") ?? 0) > 0);
      const misrouted = await client.call("describeGroup", subjects.group(CLUSTER, (groupPartition(groupId) + 1) % CONSUMER_OFFSETS_PARTITIONS), { groupId });
      assert.equal(misrouted.error && FlotillaError.fromWire(misrouted.error).code, "NOT_COORDINATOR");
      assert.equal((await client.ok("describeGroup", subjects.group(CLUSTER, groupPartition(GROUP)), { groupId: GROUP })).groupId, GROUP, "still serving");
    } finally {
      await client.close();
    }
  });
});

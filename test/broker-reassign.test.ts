/**
 * Broker - partition reassignment, leader transfer and rebalance with real broker processes on a
 * real nats-server. A 12-partition topic created on brokers 1,2,3 moves to 2,3,4 while producers
 * write (each batch retried with its own batch id until acknowledged) and the controller leader is
 * killed and restarted mid-way: the plan must verify complete, every acknowledged record must be in
 * its partition once at its offset, and broker 1's replica directories must be gone (broker 1 is
 * down when the moves start and comes back mid-way).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Flotilla, type Admin, type ReassignmentPlan } from "../client/index.js";
import { FlotillaError, isRetriable } from "../protocol/errors.js";
import { decodeRecords, encodeRecordBatch, iterateBatches } from "../protocol/record-batch.js";
import { subjects } from "../protocol/subjects.js";
import { CONSUMER_OFFSETS_TOPIC } from "../protocol/groups.js";
import { BrokerProcessHandle, CLUSTER, RawClient, eventually, natsAndDir, sleep, type TestNats } from "./broker-fixtures.js";

const TOPIC = "moves";
const PARTITIONS = 12;

interface Acked {
  partition: number;
  value: string;
  offset: bigint;
}

/** Producers each sending one batch at a time, round robin over `partitions`, retrying a batch (same id) until acknowledged. */
function startLoad(client: RawClient, producers: number, partitions = Array.from({ length: PARTITIONS }, (_, p) => p)): { acked: Acked[]; stop(): Promise<void> } {
  const acked: Acked[] = [];
  let stop = false;
  const tag = randomBytes(4).toString("hex");
  const producer = async (n: number): Promise<void> => {
    for (let seq = 0; !stop; seq++) {
      const partition = partitions[(seq * producers + n) % partitions.length];
      const value = `${tag}-p${n}-${seq}`;
      const batchId = randomBytes(16);
      const batch = encodeRecordBatch([{ key: null, value: Buffer.from(value) }]);
      const deadline = Date.now() + 90_000;
      for (;;) {
        try {
          const r = await client.call("produce", subjects.produce(CLUSTER, TOPIC, partition), { topic: TOPIC, partition, acks: "all", timeoutMs: 5000, batchId, batch }, 3000);
          if (!r.error) {
            acked.push({ partition, value, offset: r.baseOffset });
            break;
          }
          if (!isRetriable(FlotillaError.fromWire(r.error))) throw FlotillaError.fromWire(r.error);
        } catch (e) {
          if (e instanceof FlotillaError && !e.retriable) throw e;
        }
        if (Date.now() > deadline) throw new Error(`batch ${value} to partition ${partition} not acknowledged within 90 s`);
        await sleep(100);
      }
      await sleep(20);
    }
  };
  const running = Array.from({ length: producers }, (_, n) => producer(n));
  return {
    acked,
    async stop() {
      stop = true;
      await Promise.all(running);
    },
  };
}

/** Reads one partition whole (linearizable): dense offsets, every acknowledged record once at its offset, nothing twice. */
async function checkPartition(client: RawClient, partition: number, acked: Acked[]): Promise<number> {
  const got: Array<{ value: string; offset: bigint }> = [];
  let offset = 0n;
  for (;;) {
    const r = await eventually(`a linearizable fetch of partition ${partition}`, () =>
      client.ok("fetch", subjects.fetch(CLUSTER, TOPIC, partition), { topic: TOPIC, partition, offset, maxBytes: 1 << 20, minBytes: 0, maxWaitMs: 0, consistency: "linearizable" }),
    );
    for (const span of iterateBatches(r.batches)) {
      for (const rec of decodeRecords(r.batches.subarray(span.at, span.at + span.size))) got.push({ value: Buffer.from(rec.value!).toString(), offset: rec.offset });
    }
    offset = got.length > 0 ? got[got.length - 1].offset + 1n : 0n;
    if (offset >= r.highWatermark) break;
  }
  assert.deepEqual(got.map((g) => g.offset), got.map((_, i) => BigInt(i)), `partition ${partition}: offsets are dense`);
  const byValue = new Map<string, bigint[]>();
  for (const g of got) byValue.set(g.value, [...(byValue.get(g.value) ?? []), g.offset]);
  for (const a of acked.filter((x) => x.partition === partition)) assert.deepEqual(byValue.get(a.value), [a.offset], `acknowledged ${a.value} is at ${a.offset} in partition ${partition}, once`);
  for (const [value, offsets] of byValue) assert.equal(offsets.length, 1, `${value} is in partition ${partition} once`);
  return got.length;
}

async function allAliveAndUnfenced(client: RawClient, n: number): Promise<void> {
  await eventually(
    `${n} alive unfenced brokers`,
    async () => {
      const d = await client.admin("describeCluster", {});
      return d.brokers.length === n && d.brokers.every((b) => b.alive && !b.fenced) ? d : undefined;
    },
    60_000,
  );
}

describe("broker - partition reassignment and leader moves", () => {
  let env: TestNats;
  let procs: BrokerProcessHandle[] = [];
  let client: RawClient;
  let flotilla: Flotilla;
  let admin: Admin;

  before(async () => {
    env = await natsAndDir();
    procs = [1, 2, 3, 4].map((id) => new BrokerProcessHandle(env, id, [1, 2, 3]));
    for (const p of procs.slice(0, 3)) p.start();
    client = await RawClient.connect(env.server.url);
    flotilla = new Flotilla({ servers: env.server.url, cluster: CLUSTER, clientId: "reassign-test", requestTimeoutMs: 20_000 });
    admin = flotilla.admin();
    await admin.connect();
  });

  after(async () => {
    await admin?.disconnect();
    await flotilla?.disconnect();
    await client?.close();
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    await env?.close();
  });

  it("moves a 12-partition topic from brokers 1,2,3 to 2,3,4 under produce load, through a controller-leader restart", async () => {
    await allAliveAndUnfenced(client, 3);
    await eventually(
      "topic created",
      () =>
        admin.createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: 3 }).then(
          () => true,
          (e: unknown) => {
            // An earlier attempt that timed out may have created it.
            if (e instanceof FlotillaError && e.code === "TOPIC_EXISTS") return true;
            throw e;
          },
        ),
      30_000,
      500,
    );
    const topicId = await eventually("every partition led", async () => {
      const d = await admin.describeTopic(TOPIC);
      return d.partitions.every((p) => p.leader !== undefined) ? d : undefined;
    });
    assert.ok(topicId.partitions.every((p) => p.replicas.every((id) => id <= 3)));
    procs[3].start();
    await allAliveAndUnfenced(client, 4);

    const plan: ReassignmentPlan = await admin.generateReassignment({ topics: [TOPIC], brokers: [2, 3, 4] });
    assert.equal(plan.partitions.length, PARTITIONS);
    assert.ok(plan.partitions.every((p) => !p.replicas.includes(1) && p.replicas.length === 3), "the plan leaves broker 1");

    // A consumer group reads all along: the move must not make it skip anything.
    const consumed = new Set<string>();
    const consumer = flotilla.consumer({ groupId: "moves-readers" });
    await consumer.connect();
    await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition, message }) => void consumed.add(`${partition}/${message.value?.toString()}`) });

    const load = startLoad(client, 2);
    await eventually("load before the move", () => (load.acked.length >= 50 ? true : undefined), 30_000, 50);
    // Broker 1, which every partition leaves, is down when the moves start and comes back
    // mid-way (possibly after its partitions have moved: it must find and delete what it held).
    await procs[0].kill("SIGKILL");
    // A cap well above what the producers write: the learners catch up through the throttle.
    await admin.reassignPartitions(plan, { throttleMbps: 5 });
    procs[0].start();

    // Mid-way, the controller leader dies and comes back.
    const controller = await eventually("a controller leader", async () => (await admin.describeCluster()).controllerLeader);
    await procs[controller - 1].kill("SIGKILL");
    await sleep(1000);
    procs[controller - 1].start();

    const status = await eventually(
      "the plan complete",
      async () => {
        const s = await admin.reassignmentStatus(plan);
        return s.complete ? s : undefined;
      },
      180_000,
      1000,
    );
    assert.ok(status.partitions.every((p) => p.status === "complete"));
    const ackedAtEnd = load.acked.length;
    await eventually("acks after the move", () => (load.acked.length >= ackedAtEnd + 24 ? true : undefined), 60_000, 50);
    await load.stop();

    // Describe is answered from whichever broker's image, which may be a heartbeat behind the one that said "complete".
    const sameSet = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x) => b.includes(x));
    await eventually("describe shows the plan's replicas", async () =>
      (await admin.describeTopic(TOPIC)).partitions.every((p) => sameSet(p.replicas, plan.partitions[p.partition].replicas)) ? true : undefined,
    ).catch(async () => {
      for (const p of (await admin.describeTopic(TOPIC)).partitions) assert.deepEqual([...p.replicas].sort(), [...plan.partitions[p.partition].replicas].sort(), `partition ${p.partition}`);
    });
    let records = 0;
    for (let p = 0; p < PARTITIONS; p++) records += await checkPartition(client, p, load.acked);
    console.log(`# reassign: ${load.acked.length} acknowledged, ${records} in the log; broker 1 and controller leader ${controller} restarted mid-way`);
    const unread = (): Acked[] => load.acked.filter((a) => !consumed.has(`${a.partition}/${a.value}`));
    await eventually("the group consumed every acknowledged record", () => (unread().length === 0 ? true : undefined), 60_000, 250).catch(() => {
      assert.deepEqual(unread().slice(0, 5), [], `${unread().length} acknowledged records the group never read`);
    });
    await consumer.disconnect();

    // Broker 1 hosts none of the topic now: its replicas are stopped and their directories deleted.
    // (The group's offsets partitions, which the plan did not move, stay where they are.)
    const offsets = (await admin.describeTopic(CONSUMER_OFFSETS_TOPIC)).partitions;
    const offsetsOn = (broker: number): number => offsets.filter((p) => p.replicas.includes(broker)).length;
    const partitionsDir = join(env.dir, "broker-1", "partitions");
    await eventually("broker 1's replica directories deleted", async () => ((await readdir(partitionsDir)).length === offsetsOn(1) ? true : undefined), 60_000, 500);
    assert.equal((await readdir(join(env.dir, "broker-4", "partitions"))).length, PARTITIONS - status.partitions.filter((p) => !p.replicas.includes(4)).length + offsetsOn(4));
  });

  it("decommissions a broker: every replica moves off it, then it stays fenced while it runs", async () => {
    const victim = 4;
    let d = await admin.decommissionBroker(victim);
    assert.equal(d.fenced, false);
    assert.ok(d.partitions.length > 0 && d.partitions.every((p) => !p.replicas.includes(victim)));
    await eventually("the moves off broker 4", async () => ((await admin.reassignmentStatus({ version: 1, partitions: d.partitions })).complete ? true : undefined), 120_000, 1000);
    d = await admin.decommissionBroker(victim);
    assert.deepEqual(d, { partitions: [], fenced: true });
    await eventually("describe shows no replica on broker 4", async () => ((await admin.describeTopic(TOPIC)).partitions.every((p) => !p.replicas.includes(victim)) ? true : undefined));
    // Alive (it heartbeats) but fenced, for good: a few heartbeats later it is still fenced.
    await sleep(2000);
    const b = (await admin.describeCluster()).brokers.find((x) => x.id === victim);
    assert.deepEqual([b?.alive, b?.fenced], [true, true]);
    await eventually("broker 4's replica directories deleted", async () => ((await readdir(join(env.dir, "broker-4", "partitions"))).length === 0 ? true : undefined), 60_000, 500);
  });

  it("a reassignment stuck on a learner that cannot catch up is cancelled: the partition stays where it was and keeps taking writes", async () => {
    // Broker 4, decommissioned above, comes back by restarting; then it dies, but not for long
    // enough to be fenced before the move onto it is recorded: its learner never catches up.
    await procs[3].kill("SIGKILL");
    procs[3].start();
    await eventually("broker 4 alive and unfenced again", async () => ((await admin.describeCluster()).brokers.find((b) => b.id === 4 && b.alive && !b.fenced) ? true : undefined), 60_000);
    const before = (await admin.describeTopic(TOPIC)).partitions[0].replicas;
    const plan: ReassignmentPlan = { version: 1, partitions: [{ topic: TOPIC, partition: 0, replicas: [before[0], before[1], 4] }] };
    await procs[3].kill("SIGKILL");
    await admin.reassignPartitions(plan);
    // The leader has added broker 4 as a learner, which never catches up.
    await eventually("broker 4 added as a learner", async () => ((await admin.reassignmentStatus(plan)).partitions[0].step === "learnersAdded" ? true : undefined));
    await admin.cancelReassignment(plan);
    const s = await admin.reassignmentStatus(plan);
    assert.deepEqual([s.partitions[0].status, s.partitions[0].replicas], ["notStarted", before]);
    const load = startLoad(client, 1, [0]);
    await eventually("writes after the cancel", () => (load.acked.length >= 3 ? true : undefined), 60_000, 50);
    await load.stop();
    await checkPartition(client, 0, load.acked);
    assert.deepEqual((await admin.describeTopic(TOPIC)).partitions[0].replicas, before);
  });

  it("transfers one partition's leadership, and a rebalance brings leaders back to their preferred replicas", async () => {
    // Describe is served by any broker from its own image, which may be a moment behind the
    // previous test's moves: a target that is no longer a replica is refused, and chosen again.
    const to = await eventually("a transfer to a follower the controller agrees is a replica", async () => {
      const p = (await admin.describeTopic(TOPIC)).partitions[0];
      const target = p.replicas.find((id) => id !== p.leader)!;
      try {
        await admin.transferLeader({ topic: TOPIC, partition: 0, to: target });
        return target;
      } catch (e) {
        if (e instanceof FlotillaError && /not a replica/.test(e.message)) return undefined;
        throw e;
      }
    });
    // Brokers learn of a new leader within a heartbeat: every one of them says so soon.
    await eventually(`broker ${to} leading partition 0, preferred`, async () => {
      const after = (await admin.describeTopic(TOPIC)).partitions[0];
      return after.leader === to && after.replicas[0] === to ? true : undefined;
    });

    // Killing a broker moves its leaderships to others; once it is back, a rebalance returns them.
    const victim = to === 3 ? 2 : 3;
    await procs[victim - 1].kill("SIGKILL");
    await eventually("no partition led by the killed broker", async () => ((await admin.describeTopic(TOPIC)).partitions.every((x) => x.leader !== undefined && x.leader !== victim) ? true : undefined), 60_000);
    procs[victim - 1].start();
    await eventually(
      `broker ${victim} alive and unfenced again`,
      async () => ((await admin.describeCluster()).brokers.find((b) => b.id === victim && b.alive && !b.fenced) ? true : undefined),
      60_000,
    );
    await eventually(
      "every partition led by its preferred replica",
      async () => {
        await admin.rebalanceLeaders();
        const parts = (await admin.describeTopic(TOPIC)).partitions;
        return parts.every((x) => x.leader === x.replicas[0]) ? true : undefined;
      },
      60_000,
      1000,
    );
  });
});

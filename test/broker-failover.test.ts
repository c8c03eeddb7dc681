/**
 * Broker - kill -9 of a partition leader's process under produce load: three broker processes
 * (`node dist/broker/server/main.js`) on a real nats-server; producers keep sending (retrying each
 * batch with its own batch id until acknowledged) while the leader of the partition is killed.
 * A new leader must serve, and every acknowledged record must be in the log once, at its offset.
 * Then the killed broker restarts and rejoins (alive and unfenced again).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { FlotillaError, isRetriable } from "../protocol/errors.js";
import { decodeRecords, encodeRecordBatch, iterateBatches } from "../protocol/record-batch.js";
import { subjects } from "../protocol/subjects.js";
import { BrokerProcessHandle, CLUSTER, RawClient, eventually, natsAndDir, sleep, type TestNats } from "./broker-fixtures.js";

const TOPIC = "failover";

/**
 * Four producers, each sending one batch at a time and retrying it (same batch id) until it is
 * acknowledged; no responders, timeouts and retriable errors are retried.
 */
function startLoad(client: RawClient): { acked: Array<{ value: string; offset: bigint }>; retries(): number; stop(): Promise<void> } {
  const acked: Array<{ value: string; offset: bigint }> = [];
  let stop = false;
  let retries = 0;
  const tag = randomBytes(4).toString("hex");
  const producer = async (n: number): Promise<void> => {
    for (let seq = 0; !stop; seq++) {
      const value = `${tag}-p${n}-${seq}`;
      const batchId = randomBytes(16);
      const batch = encodeRecordBatch([{ key: null, value: Buffer.from(value) }]);
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const r = await client.call("produce", subjects.produce(CLUSTER, TOPIC, 0), { topic: TOPIC, partition: 0, acks: "all", timeoutMs: 5000, batchId, batch }, 2000);
          if (!r.error) {
            acked.push({ value, offset: r.baseOffset });
            break;
          }
          if (!isRetriable(FlotillaError.fromWire(r.error))) throw FlotillaError.fromWire(r.error);
        } catch (e) {
          if (e instanceof FlotillaError && !e.retriable) throw e;
        }
        retries++;
        if (Date.now() > deadline) throw new Error(`batch ${value} not acknowledged within 60 s`);
        await sleep(100);
      }
    }
  };
  const running = [1, 2, 3, 4].map(producer);
  return {
    acked,
    retries: () => retries,
    async stop() {
      stop = true;
      await Promise.all(running);
    },
  };
}

/** Reads the whole partition (linearizable) and checks: dense offsets, every acknowledged record once at its offset, nothing twice. */
async function checkLog(client: RawClient, acked: Array<{ value: string; offset: bigint }>): Promise<number> {
  const got: Array<{ value: string; offset: bigint }> = [];
  let offset = 0n;
  for (;;) {
    const r = await eventually("a linearizable fetch", () =>
      client.ok("fetch", subjects.fetch(CLUSTER, TOPIC, 0), { topic: TOPIC, partition: 0, offset, maxBytes: 1 << 20, minBytes: 0, maxWaitMs: 0, consistency: "linearizable" }),
    );
    for (const span of iterateBatches(r.batches)) {
      for (const rec of decodeRecords(r.batches.subarray(span.at, span.at + span.size))) got.push({ value: Buffer.from(rec.value!).toString(), offset: rec.offset });
    }
    offset = got.length > 0 ? got[got.length - 1].offset + 1n : 0n;
    if (offset >= r.highWatermark) break;
  }
  assert.deepEqual(got.map((g) => g.offset), got.map((_, i) => BigInt(i)), "offsets are dense");
  const byValue = new Map<string, bigint[]>();
  for (const g of got) byValue.set(g.value, [...(byValue.get(g.value) ?? []), g.offset]);
  for (const a of acked) assert.deepEqual(byValue.get(a.value), [a.offset], `acknowledged ${a.value} is at ${a.offset}, once`);
  for (const [value, offsets] of byValue) assert.equal(offsets.length, 1, `${value} is in the log once`);
  return got.length;
}

describe("broker - kill -9 of a partition leader under produce load", () => {
  let env: TestNats;
  let procs: BrokerProcessHandle[] = [];
  let client: RawClient;

  before(async () => {
    env = await natsAndDir();
    procs = [1, 2, 3].map((id) => new BrokerProcessHandle(env, id, [1, 2, 3]));
    for (const p of procs) p.start();
    client = await RawClient.connect(env.server.url);
  });

  after(async () => {
    await client?.close();
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    await env?.close();
  });

  it("a new leader serves and every acknowledged record is there once, at its offset", async () => {
    await eventually(
      "3 alive unfenced brokers",
      async () => {
        const d = await client.admin("describeCluster", {});
        return d.brokers.length === 3 && d.brokers.every((b) => b.alive && !b.fenced) ? d : undefined;
      },
      60_000,
    );
    await eventually("topic created", () => client.admin("createTopic", { topic: TOPIC, partitions: 1, replicationFactor: 3, configs: {} }, 20_000), 30_000, 500);
    const leaderOf = async (): Promise<number | undefined> => (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].leader;
    const firstLeader = await eventually("a leader", leaderOf, 30_000);

    const load = startLoad(client);
    const acked = load.acked;
    await eventually("load before the kill", () => (acked.length >= 40 ? true : undefined), 30_000, 50);
    const victim = procs[firstLeader - 1];
    const ackedAtKill = acked.length;
    await victim.kill("SIGKILL");

    const newLeader = await eventually(
      "a new leader",
      async () => {
        const l = await leaderOf();
        return l !== undefined && l !== firstLeader ? l : undefined;
      },
      60_000,
    );
    await eventually("acks after the failover", () => (acked.length >= ackedAtKill + 40 ? true : undefined), 60_000, 50);
    await load.stop();
    // The controller stops hearing from the killed broker and fences it.
    await eventually(
      "the killed broker fenced and not alive",
      async () => {
        const b = (await client.admin("describeCluster", {})).brokers.find((x) => x.id === firstLeader);
        return b && !b.alive && b.fenced ? b : undefined;
      },
      60_000,
    );
    const got = await checkLog(client, acked);
    console.log(`# failover: leader ${firstLeader} killed, new leader ${newLeader}; ${acked.length} acknowledged, ${got} in the log, ${load.retries()} retried sends`);

    // The killed broker restarts, registers again and is unfenced.
    victim.start();
    await eventually(
      "the restarted broker alive and unfenced",
      async () => {
        const d = await client.admin("describeCluster", {});
        return d.brokers.length === 3 && d.brokers.every((b) => b.alive && !b.fenced) ? d : undefined;
      },
      60_000,
    );
  });

  it("a leader paused (SIGSTOP) past the election timeout acknowledges nothing it could not commit", async () => {
    const leaderOf = async (): Promise<number | undefined> => (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].leader;
    const paused = await eventually("a leader", leaderOf, 30_000);
    const load = startLoad(client);
    await eventually("load before the pause", () => (load.acked.length >= 20 ? true : undefined), 30_000, 50);
    procs[paused - 1].child!.kill("SIGSTOP");
    const ackedAtPause = load.acked.length;
    try {
      await eventually(
        "another leader while paused",
        async () => {
          const l = await leaderOf();
          return l !== undefined && l !== paused ? l : undefined;
        },
        60_000,
      );
      await eventually("acks while paused", () => (load.acked.length >= ackedAtPause + 20 ? true : undefined), 60_000, 50);
    } finally {
      procs[paused - 1].child!.kill("SIGCONT");
    }
    // The old leader wakes up with requests queued for it; it must step down, not acknowledge them.
    const ackedAtResume = load.acked.length;
    await eventually("acks after the resume", () => (load.acked.length >= ackedAtResume + 20 ? true : undefined), 60_000, 50);
    await load.stop();
    await checkLog(client, load.acked);
  });

  it("SIGTERM stops a broker gracefully, leadership moved away first", async () => {
    const d = await client.admin("describeTopic", { topic: TOPIC });
    const leader = d.description.partitions[0].leader!;
    await procs[leader - 1].kill("SIGTERM");
    assert.equal(procs[leader - 1].child!.exitCode, 0, "exits 0 after a graceful stop");
    const next = await eventually(
      "another leader",
      async () => {
        const l = (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].leader;
        return l !== undefined && l !== leader ? l : undefined;
      },
      30_000,
    );
    assert.notEqual(next, leader);
  });
});

/**
 * Figure script (not a test): failover time after kill -9 of a partition leader, ten times. Three
 * broker processes on a real nats-server; one producer sends acks=all batches back to back
 * with a 300 ms request timeout (a retry keeps the batch id, so it never lands twice), retrying
 * every 50 ms while there is no leader. Failover time = from the kill to the first
 * acknowledgement of a request sent after it (an answer the old leader wrote just before dying
 * may still arrive after the kill, and says nothing about the new leader). A round starts only
 * once every broker answers a follower fetch of the partition, i.e. the broker killed in the round
 * before is back and caught up (the controller still counts a killed broker alive for a session
 * timeout, so "3 alive brokers" alone would let a round kill a second broker while the first is
 * still starting, and time its restart instead of a failover). The killed broker is restarted and rejoins before the next round.
 * With `--client library` the producer is the client library's (`producer.send`, one record at
 * a time, its own timeouts and retries with their defaults) instead: what an application sees.
 * Prints one JSON line. Run: `node dist/test/broker-failover-time.js [--rounds 10] [--client raw|library]`.
 */
import { randomBytes } from "node:crypto";
import { Flotilla } from "../client/index.js";
import { FlotillaError } from "../protocol/errors.js";
import { encodeRecordBatch } from "../protocol/record-batch.js";
import { subjects } from "../protocol/subjects.js";
import { BrokerProcessHandle, CLUSTER, RawClient, eventually, natsAndDir, sleep } from "./broker-fixtures.js";

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
const rounds = Number(flag("rounds", "10"));
const clientKind = flag("client", "raw");
if (clientKind !== "raw" && clientKind !== "library") throw new Error(`--client must be raw or library, got ${clientKind}`);
const TOPIC = "failover-time";
const env = await natsAndDir();
const procs = [1, 2, 3].map((id) => new BrokerProcessHandle(env, id, [1, 2, 3]));
for (const p of procs) p.start();
const client = await RawClient.connect(env.server.url);
const flotilla = new Flotilla({ servers: env.server.url, cluster: CLUSTER, clientId: "failover-time" });
const allUp = (): Promise<unknown> =>
  eventually("3 alive unfenced brokers", async () => {
    const d = await client.admin("describeCluster", {});
    return d.brokers.length === 3 && d.brokers.every((b) => b.alive && !b.fenced) ? d : undefined;
  }, 60_000);
try {
  await allUp();
  await client.admin("createTopic", { topic: TOPIC, partitions: 1, replicationFactor: 3, configs: {} }, 20_000);
  const caughtUp = (id: number): Promise<unknown> =>
    eventually(`broker ${id} serves a follower fetch`, () =>
      client.ok("fetch", subjects.replicaFetch(CLUSTER, TOPIC, 0, id), { topic: TOPIC, partition: 0, offset: 0n, maxBytes: 1, minBytes: 0, maxWaitMs: 0, consistency: "leader" }, 1000),
    60_000);
  let lastAck = 0;
  /** When the request of the last acknowledgement was sent. */
  let lastAckSent = 0;
  let stop = false;
  const acked = (sentAt: number): void => {
    lastAck = Date.now();
    lastAckSent = sentAt;
  };
  const rawProducer = async (): Promise<void> => {
    while (!stop) {
      const batchId = randomBytes(16);
      const batch = encodeRecordBatch([{ key: null, value: Buffer.from("x") }]);
      for (;;) {
        const sentAt = Date.now();
        try {
          const r = await client.call("produce", subjects.produce(CLUSTER, TOPIC, 0), { topic: TOPIC, partition: 0, acks: "all", timeoutMs: 3000, batchId, batch }, 300);
          if (!r.error) {
            acked(sentAt);
            break;
          }
          if (!FlotillaError.fromWire(r.error).retriable) throw FlotillaError.fromWire(r.error);
        } catch (e) {
          if (e instanceof FlotillaError && !e.retriable) throw e;
        }
        if (stop) return;
        await sleep(50);
      }
    }
  };
  const libraryProducer = async (): Promise<void> => {
    const producer = flotilla.producer({ acks: "all" });
    await producer.connect();
    while (!stop) {
      const sentAt = Date.now();
      try {
        await producer.send({ topic: TOPIC, messages: [{ key: null, value: "x" }] });
        acked(sentAt);
      } catch (e) {
        if (!(e instanceof FlotillaError && e.retriable)) throw e;
      }
    }
    await producer.disconnect();
  };
  const producer = clientKind === "raw" ? rawProducer() : libraryProducer();
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await allUp();
    await Promise.all(procs.map((p) => caughtUp(p.id)));
    const leader = await eventually("a leader", async () => (await client.admin("describeTopic", { topic: TOPIC })).description.partitions[0].leader, 30_000);
    await eventually("acks flowing", () => (Date.now() - lastAck < 200 ? true : undefined), 30_000, 20);
    const killedAt = Date.now();
    await procs[leader - 1].kill("SIGKILL");
    await eventually("an ack after the kill", () => (lastAckSent > killedAt ? true : undefined), 60_000, 10);
    times.push(lastAck - killedAt);
    // Wall-clock times, to line up with the brokers' logs (FLOTILLA_TEST_LOG=info: "became leader").
    process.stderr.write(`round ${round + 1}: leader ${leader} killed at ${new Date(killedAt).toISOString()}, acks again after ${lastAck - killedAt} ms\n`);
    procs[leader - 1].start();
  }
  stop = true;
  await producer;
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(JSON.stringify({ workload: "failover-time", client: clientKind, rounds, medianMs: median, worstMs: sorted[sorted.length - 1], bestMs: sorted[0], timesMs: times }));
} finally {
  await flotilla.disconnect();
  await client.close();
  await Promise.all(procs.map((p) => p.kill("SIGKILL")));
  await env.close();
}

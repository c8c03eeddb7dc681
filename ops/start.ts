#!/usr/bin/env node
/**
 * `npm start`: a local 3-broker cluster with its own nats-server (Debian's package is installed
 * when missing), then a short demo against it — create a topic, produce a few records, read them
 * back — and the addresses of everything, and it keeps running until Ctrl-C, which stops it all.
 */
import { Flotilla } from "../client/index.js";
import { DevCluster } from "./dev.js";

const TOPIC = "demo";
const say = (line = ""): void => void process.stdout.write(`${line}\n`);

async function demo(natsUrl: string, cluster: string): Promise<void> {
  const flotilla = new Flotilla({ servers: natsUrl, cluster, clientId: "flotilla-demo" });
  const admin = flotilla.admin();
  await admin.connect();
  try {
    const exists = (await admin.listTopics()).includes(TOPIC);
    if (!exists) await admin.createTopic({ topic: TOPIC, partitions: 3, replicationFactor: 3 });
    say(`topic "${TOPIC}": 3 partitions, replication factor 3${exists ? " (already there)" : " (created)"}`);

    const producer = flotilla.producer({ acks: "all", idempotent: true, lingerMs: 5 });
    await producer.connect();
    const messages = [
      { key: "alice", value: "signed up" },
      { key: "bob", value: "placed order #1" },
      { key: "alice", value: "placed order #2" },
      { key: "carol", value: "signed up" },
      { key: "bob", value: "paid order #1" },
    ];
    const acks = await producer.send({ topic: TOPIC, messages });
    await producer.disconnect();
    say("produced (acks=all: committed by each partition's Raft group):");
    acks.forEach((a, i) => say(`  ${messages[i].key.padEnd(6)} ${JSON.stringify(messages[i].value).padEnd(18)} → partition ${a.partition}, offset ${a.offset}`));

    say("consumed (a plain fetch of each partition the records went to):");
    const partitions = [...new Set(acks.map((a) => a.partition))].sort((a, b) => a - b);
    for (const partition of partitions) {
      const from = acks.filter((a) => a.partition === partition).reduce((m, a) => (a.offset < m ? a.offset : m), acks[0].offset + 1_000_000n);
      const batch = await flotilla.fetch({ topic: TOPIC, partition, offset: from, maxBytes: 1 << 20, maxWaitMs: 1000 });
      for (const r of batch.records) {
        say(`  partition ${partition} offset ${r.offset}: ${r.key?.toString() ?? "null"} = ${r.value?.toString() ?? "null"}`);
      }
      say(`  partition ${partition}: high watermark ${batch.highWatermark}`);
    }
  } finally {
    await admin.disconnect();
    await flotilla.disconnect();
  }
}

async function main(): Promise<number> {
  let stopRequested!: () => void;
  const interrupted = new Promise<void>((resolve) => (stopRequested = resolve));
  let signals = 0;
  let cluster: DevCluster | undefined;
  const onSignal = (): void => {
    if (++signals > 1) {
      cluster?.kill();
      process.exit(1);
    }
    stopRequested();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  say("Flotilla: starting a local cluster (nats-server + 3 brokers)…");
  cluster = await DevCluster.start({ brokers: 3, cluster: "flotilla", say: (l) => say(l) });
  try {
    const ready = await Promise.race([cluster.waitReady(90_000), interrupted.then(() => undefined)]);
    if (ready) {
      say(`cluster up: controller leader is broker ${ready.controllerLeader}; ${ready.brokers.length} brokers registered`);
      say();
      await demo(cluster.natsUrl, cluster.cluster);
      say();
      say(`NATS:     ${cluster.natsUrl}   (cluster "${cluster.cluster}")`);
      for (const b of cluster.brokers) say(`broker ${b.id}: metrics ${b.metricsUrl}   log ${b.log}`);
      say();
      say("Try, in another terminal:");
      say(`  npx flotilla topic describe ${TOPIC} --nats ${cluster.natsUrl}`);
      say(`  echo hello | npx flotilla produce ${TOPIC} --nats ${cluster.natsUrl}`);
      say(`  npx flotilla consume ${TOPIC} --from-beginning --nats ${cluster.natsUrl}`);
      say(`  curl -s ${cluster.brokers[0].metricsUrl} | grep ^flotilla_ | head`);
      say();
      say("Running until Ctrl-C.");
      await interrupted;
    }
    say("stopping brokers and nats-server…");
    return 0;
  } catch (e) {
    process.stderr.write(`npm start: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  } finally {
    await cluster.stop();
    say("stopped.");
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`npm start: ${(e as Error)?.message ?? String(e)}\n`);
    process.exit(1);
  },
);

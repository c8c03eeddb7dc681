/**
 * The demo round trip `npm start` and `flotilla dev --embedded` show: create a topic, produce a few
 * keyed records with acks=all, read back each partition they went to with a plain fetch.
 */
import type { Flotilla } from "../client/index.js";

export const DEMO_TOPIC = "demo";

const MESSAGES = [
  { key: "alice", value: "signed up" },
  { key: "bob", value: "placed order #1" },
  { key: "alice", value: "placed order #2" },
  { key: "carol", value: "signed up" },
  { key: "bob", value: "paid order #1" },
];

/** What the demo did; offsets as strings, so it prints as JSON as it is. */
export interface DemoResult {
  topic: string;
  /** False when the topic was there already (a cluster on a kept --dir). */
  created: boolean;
  replicationFactor: number;
  produced: Array<{ key: string; value: string; partition: number; offset: string }>;
  consumed: Array<{ partition: number; highWatermark: string; records: Array<{ offset: string; key: string | null; value: string | null }> }>;
}

/** Runs the round trip on `flotilla`, and lets go of its connection at the end. */
export async function runDemo(flotilla: Flotilla): Promise<DemoResult> {
  const admin = flotilla.admin();
  await admin.connect();
  const producer = flotilla.producer({ acks: "all", idempotent: true, lingerMs: 5 });
  try {
    const created = !(await admin.listTopics()).includes(DEMO_TOPIC);
    const replicationFactor = created ? Math.min(3, (await admin.describeCluster()).brokers.length) : (await admin.describeTopic(DEMO_TOPIC)).partitions[0]!.replicas.length;
    if (created) await admin.createTopic({ topic: DEMO_TOPIC, partitions: 3, replicationFactor });
    await producer.connect();
    const acks = await producer.send({ topic: DEMO_TOPIC, messages: MESSAGES });
    const produced = acks.map((a, i) => ({ ...MESSAGES[i]!, partition: a.partition, offset: String(a.offset) }));
    const consumed: DemoResult["consumed"] = [];
    for (const partition of [...new Set(acks.map((a) => a.partition))].sort((a, b) => a - b)) {
      const from = acks.filter((a) => a.partition === partition).reduce((min, a) => (a.offset < min ? a.offset : min), acks[0]!.offset + 1_000_000n);
      const batch = await flotilla.fetch({ topic: DEMO_TOPIC, partition, offset: from, maxBytes: 1 << 20, maxWaitMs: 1000 });
      consumed.push({
        partition,
        highWatermark: String(batch.highWatermark),
        records: batch.records.map((r) => ({ offset: String(r.offset), key: r.key?.toString() ?? null, value: r.value?.toString() ?? null })),
      });
    }
    return { topic: DEMO_TOPIC, created, replicationFactor, produced, consumed };
  } finally {
    await producer.disconnect();
    await admin.disconnect();
    await flotilla.disconnect();
  }
}

/** The demo as people read it. */
export function demoLines(r: DemoResult): string[] {
  return [
    `topic "${r.topic}": 3 partitions, replication factor ${r.replicationFactor}${r.created ? " (created)" : " (already there)"}`,
    "produced (acks=all: committed by each partition's Raft group):",
    ...r.produced.map((p) => `  ${p.key.padEnd(6)} ${JSON.stringify(p.value).padEnd(18)} → partition ${p.partition}, offset ${p.offset}`),
    "consumed (a plain fetch of each partition the records went to):",
    ...r.consumed.flatMap((c) => [
      ...c.records.map((x) => `  partition ${c.partition} offset ${x.offset}: ${x.key ?? "null"} = ${x.value ?? "null"}`),
      `  partition ${c.partition}: high watermark ${c.highWatermark}`,
    ]),
  ];
}

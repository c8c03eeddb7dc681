import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { decodeRaftBatch } from "../../protocol/raft-codec.js";
import { EntryType, MessageType, emptyMessage, type Entry, type Message } from "../../protocol/raft.js";
import { CoalescingSender } from "./coalescing-sender.js";
import { emptyStats, type BrokerId } from "./transport.js";

const logger = pino({ level: "silent" });

function heartbeat(to: BrokerId, n: number): Message {
  return { ...emptyMessage(MessageType.Heartbeat, `group-${n}`, 1, to, 5), commit: n };
}

function append(to: BrokerId, n: number, bytes: number): Message {
  return appendOf(to, n, [{ term: 5, index: n + 1, type: EntryType.Normal, data: new Uint8Array(bytes) }]);
}

/** An append of `entries` (shared with other appends when the caller passes the same objects). */
function appendOf(to: BrokerId, n: number, entries: Entry[]): Message {
  return { ...emptyMessage(MessageType.App, "p-0", 1, to, 5), index: entries[0].index - 1, commit: n, entries };
}

function entriesOf(firstIndex: number, bytes: number): Entry[] {
  return [{ term: 5, index: firstIndex, type: EntryType.Normal, data: new Uint8Array(bytes).fill(firstIndex) }];
}

interface Published {
  to: readonly BrokerId[];
  payload: Uint8Array;
}

function sender(options: { maxBatchBytes?: number; inlineFlushBytes?: number; maxMulticast?: number; publish?: (to: readonly BrokerId[], payload: Uint8Array) => void } = {}) {
  const published: Published[] = [];
  const stats = emptyStats();
  const s = new CoalescingSender({
    maxBatchBytes: options.maxBatchBytes ?? 1 << 20,
    inlineFlushBytes: options.inlineFlushBytes ?? 256 * 1024,
    maxMulticast: options.maxMulticast ?? 4,
    publish:
      options.publish ??
      ((to, payload) => {
        published.push({ to, payload });
      }),
    stats,
    logger,
  });
  /** The commits of the messages `to` takes, in the order it receives them. */
  const commits = (to: BrokerId): number[] =>
    published.filter((p) => p.to.includes(to)).flatMap((p) => decodeRaftBatch(p.payload).filter((m) => m.to === to).map((m) => m.commit));
  return { s, published, stats, commits };
}

const microtask = (): Promise<void> => Promise.resolve();

describe("coalescing sender - batching", () => {
  it("sends nothing inline, then one batch per destination at the end of the microtask", async () => {
    const { s, published, stats, commits } = sender();
    for (let i = 0; i < 100; i++) s.enqueue(2, heartbeat(2, i));
    for (let i = 0; i < 50; i++) s.enqueue(3, heartbeat(3, i));
    assert.equal(published.length, 0);
    await microtask();
    assert.deepEqual(published.map((p) => p.to), [[2], [3]]);
    assert.deepEqual(commits(2), Array.from({ length: 100 }, (_, i) => i));
    assert.equal(commits(3).length, 50);
    assert.deepEqual([stats.batchesSent, stats.messagesSent], [2, 150]);
    assert.equal(stats.bytesSent, published[0].payload.length + published[1].payload.length);
  });

  it("sends what is queued inline before the queue would pass the threshold", async () => {
    const { s, published, commits } = sender({ inlineFlushBytes: 10_000 });
    s.enqueue(2, append(2, 0, 4000));
    s.enqueue(3, heartbeat(3, 0));
    s.enqueue(2, append(2, 1, 4000));
    assert.equal(published.length, 0);
    s.enqueue(2, append(2, 2, 4000));
    assert.deepEqual(published.map((p) => p.to), [[2], [3]], "what was queued went out; the third append waits");
    await microtask();
    assert.deepEqual(commits(2), [0, 1, 2]);
    assert.deepEqual(commits(3), [0]);
  });

  it("cuts a queue before it would pass the batch limit, so every batch fits and order holds", async () => {
    const { s, published, commits } = sender({ maxBatchBytes: 10_000, inlineFlushBytes: 1 << 20 });
    for (let i = 0; i < 10; i++) s.enqueue(2, append(2, i, 3000));
    await microtask();
    assert.ok(published.length >= 4);
    assert.ok(published.every((p) => p.payload.length <= 10_000));
    assert.deepEqual(commits(2), Array.from({ length: 10 }, (_, i) => i));
  });

  it("a flush call sends at once, and the scheduled flush then finds nothing", async () => {
    const { s, published } = sender();
    s.enqueue(2, heartbeat(2, 1));
    s.flush();
    assert.equal(published.length, 1);
    await microtask();
    assert.equal(published.length, 1);
  });
});

describe("coalescing sender - multicast", () => {
  it("sends appends of the same entries to several brokers as one batch for all of them, the bytes once", async () => {
    const { s, published, commits } = sender();
    const entries = entriesOf(11, 50_000);
    s.enqueue(2, appendOf(2, 1, entries));
    s.enqueue(3, appendOf(3, 2, entries));
    s.enqueue(4, appendOf(4, 3, entries));
    s.enqueue(2, heartbeat(2, 4));
    await microtask();
    assert.deepEqual(published.map((p) => p.to), [[2, 3, 4], [2]]);
    assert.ok(published[0].payload.length < 51_000, `${published[0].payload.length} bytes: the entry data once`);
    const decoded = decodeRaftBatch(published[0].payload);
    assert.deepEqual(decoded.map((m) => m.to), [2, 3, 4]);
    assert.ok(decoded.every((m) => m.entries[0].data.length === 50_000 && m.entries[0].data[0] === 11));
    assert.deepEqual([commits(2), commits(3), commits(4)], [[1, 4], [2], [3]]);
  });

  it("keeps a group's order to each broker when its messages are spread over its own and multicast batches", async () => {
    const { s, published, commits } = sender();
    const first = entriesOf(11, 1000);
    const second = entriesOf(12, 1000);
    const beat = (to: BrokerId, n: number): Message => ({ ...heartbeat(to, n), group: "p-0" });
    s.enqueue(2, beat(2, 0));
    s.enqueue(2, appendOf(2, 1, first));
    s.enqueue(3, appendOf(3, 1, first));
    s.enqueue(2, beat(2, 2));
    s.enqueue(2, appendOf(2, 3, second));
    s.enqueue(3, beat(3, 2));
    s.enqueue(3, appendOf(3, 3, second));
    await microtask();
    assert.deepEqual(commits(2), [0, 1, 2, 3]);
    assert.deepEqual(commits(3), [1, 2, 3]);
    assert.ok(published.filter((p) => p.to.length === 2).length >= 2);
  });

  it("does not cut batches for the order of different groups: many groups' appends and heartbeats take two publishes", async () => {
    const { s, published } = sender();
    for (let g = 0; g < 100; g++) {
      const entries = entriesOf(11, 100);
      for (const to of [2, 3]) s.enqueue(to, { ...appendOf(to, g, entries), group: `p-${g}` });
      s.enqueue(2, heartbeat(2, g));
    }
    await microtask();
    assert.deepEqual(published.map((p) => p.to), [[2, 3], [2]]);
  });

  it("sends entries only one broker gets, or more brokers than the limit get, in per-broker batches", async () => {
    const { s, published } = sender({ maxMulticast: 2 });
    const wide = entriesOf(11, 1000);
    for (const to of [2, 3, 4]) s.enqueue(to, appendOf(to, 1, wide));
    s.enqueue(5, appendOf(5, 1, entriesOf(12, 1000)));
    s.enqueue(2, appendOf(2, 2, entriesOf(20, 1000)));
    s.enqueue(3, appendOf(3, 2, entriesOf(20, 1000)));
    await microtask();
    assert.ok(published.every((p) => p.to.length === 1));
  });

  it("cuts a multicast batch before the limit, and every part still carries the data it refers to", async () => {
    const { s, published, commits } = sender({ maxBatchBytes: 10_000, inlineFlushBytes: 1 << 20 });
    for (let i = 0; i < 6; i++) {
      const entries = entriesOf(10 + i, 3000);
      s.enqueue(2, appendOf(2, i, entries));
      s.enqueue(3, appendOf(3, i, entries));
    }
    await microtask();
    assert.ok(published.length >= 2);
    assert.ok(published.every((p) => p.payload.length <= 10_000 && p.to.length === 2));
    assert.deepEqual(commits(2), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(commits(3), [0, 1, 2, 3, 4, 5]);
  });
});

describe("coalescing sender - what cannot be sent", () => {
  it("drops and counts a message that alone exceeds the batch limit", async () => {
    const { s, stats, commits } = sender({ maxBatchBytes: 10_000 });
    s.enqueue(2, heartbeat(2, 1));
    s.enqueue(2, append(2, 2, 20_000));
    s.enqueue(2, heartbeat(2, 3));
    await microtask();
    assert.deepEqual(commits(2), [1, 3]);
    assert.equal(stats.oversizedDropped, 1);
  });

  it("drops only the message the codec refuses; the rest of its batch goes out", async () => {
    const { s, stats, commits } = sender();
    s.enqueue(2, heartbeat(2, 1));
    s.enqueue(2, { ...heartbeat(2, 2), entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(1) }] });
    s.enqueue(2, heartbeat(2, 3));
    await microtask();
    assert.deepEqual(commits(2), [1, 3]);
    assert.equal(stats.unencodableDropped, 1);
  });

  it("counts a publish that throws and keeps going", async () => {
    let fail = true;
    const sent: number[] = [];
    const { s, stats } = sender({
      publish: (_to, payload) => {
        if (fail) throw new Error("connection closed");
        sent.push(...decodeRaftBatch(payload).map((m) => m.commit));
      },
    });
    s.enqueue(2, heartbeat(2, 1));
    await microtask();
    fail = false;
    s.enqueue(2, heartbeat(2, 2));
    await microtask();
    assert.deepEqual(sent, [2]);
    assert.deepEqual([stats.publishFailures, stats.batchesSent, stats.messagesSent], [1, 1, 1]);
  });

  it("close sends what is queued and refuses more", async () => {
    const { s, commits } = sender();
    s.enqueue(2, heartbeat(2, 1));
    s.close();
    s.enqueue(2, heartbeat(2, 2));
    await microtask();
    assert.deepEqual(commits(2), [1]);
  });

  it("rejects limits that cannot hold a batch", () => {
    assert.throws(() => sender({ maxBatchBytes: 10 }), /maxBatchBytes/);
    assert.throws(() => sender({ inlineFlushBytes: 0 }), /inlineFlushBytes/);
  });
});

/**
 * The behaviour every Transport promises, written once and run against each implementation
 * (test/transport-in-process.test.ts, test/transport-nats.test.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeRaftBatch } from "../protocol/raft-codec.js";
import { MessageType } from "../protocol/raft.js";
import { prng, randomBytes } from "../protocol/test-util.js";
import { FaultyTransport, NetworkFaults } from "../broker/transport/faulty-transport.js";
import type { BrokerId, Transport } from "../broker/transport/transport.js";
import { Collector, append, heartbeat, plain, richMessages, settle } from "./transport-fixtures.js";

/** One network of brokers on one implementation. */
export interface TransportHarness {
  /** The transport of broker `id`. */
  connect(id: BrokerId): Promise<Transport>;
  /** Puts raw bytes on broker `to`'s Raft wire, claiming sender `from` (undefined: no sender named). */
  injectRaw(to: BrokerId, payload: Uint8Array, from: BrokerId | undefined): Promise<void>;
  /** Stops everything the harness started. */
  close(): Promise<void>;
}

export interface TransportTarget {
  name: string;
  /** A fresh network whose wire carries at most `maxPayload` bytes per message. */
  create(options: { maxPayload: number }): Promise<TransportHarness>;
}

const MIB = 1024 * 1024;

async function withHarness(target: TransportTarget, maxPayload: number, body: (h: TransportHarness) => Promise<void>): Promise<void> {
  const harness = await target.create({ maxPayload });
  try {
    await body(harness);
  } finally {
    await harness.close();
  }
}

export function describeTransportContract(target: TransportTarget): void {
  describe(`${target.name} transport - contract`, () => {
    it("delivers every message with its sender's id, in order per pair", () =>
      withHarness(target, MIB, async (h) => {
        const [t1, t2, t3] = await Promise.all([h.connect(1), h.connect(2), h.connect(3)]);
        const at2 = new Collector(t2);
        const at3 = new Collector(t3);
        for (let round = 0; round < 5; round++) {
          for (let i = 0; i < 20; i++) t1.send(2, heartbeat(1, 2, round * 20 + i));
          t3.send(2, heartbeat(3, 2, round));
          t1.send(3, heartbeat(1, 3, round));
          await settle(5);
        }
        const received = await at2.waitForMessages(105);
        await at3.waitForMessages(5);
        const from1 = at2.batches.filter((b) => b.from === 1).flatMap((b) => b.messages);
        const from3 = at2.batches.filter((b) => b.from === 3).flatMap((b) => b.messages);
        assert.equal(received.length, 105);
        assert.deepEqual(from1.map((m) => m.commit), Array.from({ length: 100 }, (_, i) => i));
        assert.deepEqual(from3.map((m) => m.commit), [0, 1, 2, 3, 4]);
        assert.ok(from1.every((m) => m.from === 1 && m.to === 2));
        assert.deepEqual(at3.messages.map((m) => m.commit), [0, 1, 2, 3, 4]);
      }));

    it("round-trips every field through the codec", () =>
      withHarness(target, MIB, async (h) => {
        const [t1, t2] = await Promise.all([h.connect(1), h.connect(2)]);
        const at2 = new Collector(t2);
        const sent = richMessages(1, 2);
        for (const m of sent) t1.send(2, m);
        assert.deepEqual(plain(await at2.waitForMessages(sent.length)), plain(sent));
      }));

    it("coalesces one tick's messages for a peer into one batch", () =>
      withHarness(target, MIB, async (h) => {
        const [t1, t2, t3] = await Promise.all([h.connect(1), h.connect(2), h.connect(3)]);
        const at2 = new Collector(t2);
        const at3 = new Collector(t3);
        // Heartbeats of 5,000 idle groups: one wire message per peer, not 5,000.
        for (let g = 0; g < 5000; g++) {
          t1.send(2, heartbeat(1, 2, g));
          if (g % 2 === 0) t1.send(3, heartbeat(1, 3, g));
        }
        await t1.flush();
        await at2.waitForMessages(5000);
        await at3.waitForMessages(2500);
        assert.equal(t1.stats().batchesSent, 2);
        assert.equal(t1.stats().messagesSent, 7500);
        assert.equal(at2.batches.length, 1);
        assert.equal(at3.batches.length, 1);
        assert.equal(t2.stats().batchesReceived, 1);
      }));

    it("sends an append of the same entries to several brokers as one publish; each takes only its own message", () =>
      withHarness(target, MIB, async (h) => {
        const [t1, t2, t3, t4] = await Promise.all([h.connect(1), h.connect(2), h.connect(3), h.connect(4)]);
        const [at2, at3, at4] = [t2, t3, t4].map((t) => new Collector(t));
        const shared = append(1, 2, 9, 200 * 1024).entries;
        for (const to of [2, 3]) t1.send(to, { ...append(1, to, 9, 0), entries: shared, commit: to });
        t1.send(4, heartbeat(1, 4, 4));
        await t1.flush();
        const [got2, got3] = await Promise.all([at2.waitForMessages(1), at3.waitForMessages(1)]);
        await at4.waitForMessages(1);
        await settle(20);
        assert.deepEqual([got2.map((m) => [m.to, m.commit]), got3.map((m) => [m.to, m.commit])], [[[2, 2]], [[3, 3]]]);
        assert.ok([...got2, ...got3].every((m) => m.entries[0].data.length === 200 * 1024 && m.entries[0].data[1000] === 9));
        assert.deepEqual(plain(at4.messages), plain([heartbeat(1, 4, 4)]), "a broker the multicast is not for hears nothing of it");
        const sent = t1.stats();
        assert.equal(sent.batchesSent, 2, "one multicast publish, one heartbeat");
        assert.ok(sent.bytesSent < 201 * 1024, `${sent.bytesSent} bytes: the entries once`);
        assert.equal(t2.stats().messagesReceived, 1);
      }));

    it("splits a flush that exceeds the max payload into batches that fit, keeping order", () =>
      withHarness(target, 64 * 1024, async (h) => {
        const [t1, t2] = await Promise.all([h.connect(1), h.connect(2)]);
        const at2 = new Collector(t2);
        assert.ok(t1.maxBatchBytes <= 64 * 1024);
        // 48 appends of 5 KiB in one tick: about 240 KiB, so at least four batches.
        for (let i = 0; i < 48; i++) t1.send(2, append(1, 2, i, 5 * 1024));
        const received = await at2.waitForMessages(48);
        const stats = t1.stats();
        assert.equal(stats.publishFailures, 0);
        assert.equal(stats.oversizedDropped, 0);
        assert.ok(stats.batchesSent >= 4, `${stats.batchesSent} batches`);
        assert.ok(stats.bytesSent / stats.batchesSent <= t1.maxBatchBytes);
        assert.deepEqual(received.map((m) => m.index), Array.from({ length: 48 }, (_, i) => i));
        assert.ok(received.every((m, i) => m.entries[0].data.length === 5 * 1024 && m.entries[0].data[4000] === i));
      }));

    it("drops a single message larger than the max payload, counts it, and sends the rest", () =>
      withHarness(target, 64 * 1024, async (h) => {
        const [t1, t2] = await Promise.all([h.connect(1), h.connect(2)]);
        const at2 = new Collector(t2);
        t1.send(2, heartbeat(1, 2, 1));
        t1.send(2, append(1, 2, 2, 80 * 1024));
        t1.send(2, heartbeat(1, 2, 3));
        await at2.waitForMessages(2);
        await settle(20);
        assert.deepEqual(at2.messages.map((m) => m.commit), [1, 3]);
        assert.equal(t1.stats().oversizedDropped, 1);
      }));

    it("drops and counts garbage on the raft wire, and keeps serving", () =>
      withHarness(target, MIB, async (h) => {
        const [t1, t2] = await Promise.all([h.connect(1), h.connect(2)]);
        const at2 = new Collector(t2);
        const rand = prng(4);
        const valid = encodeRaftBatch([heartbeat(1, 2, 1)]);
        await h.injectRaw(2, randomBytes(rand, 200), 1);
        await h.injectRaw(2, new Uint8Array(0), 1);
        await h.injectRaw(2, valid.subarray(0, valid.length - 3), 1);
        await h.injectRaw(2, Uint8Array.of(0x92, 0x63, 0x90), 1); // well-formed msgpack, unknown wire version
        await h.injectRaw(2, valid, undefined); // a valid batch that names no sender
        t1.send(2, heartbeat(1, 2, 42));
        const received = await at2.waitForMessages(1);
        await settle(20);
        assert.deepEqual(received.map((m) => m.commit), [42]);
        assert.equal(t2.stats().decodeFailures, 5);
        assert.equal(t2.stats().messagesReceived, 1);
      }));

    it("faults - drop everything, then a one-way partition, then heal", () =>
      withHarness(target, MIB, async (h) => {
        const faults = new NetworkFaults(prng(1));
        const [t1, t2] = (await Promise.all([h.connect(1), h.connect(2)])).map((t) => new FaultyTransport(t, faults));
        const at1 = new Collector(t1);
        const at2 = new Collector(t2);

        faults.set({ dropRate: 1 });
        for (let i = 0; i < 10; i++) t1.send(2, heartbeat(1, 2, i));
        await t1.flush();
        await settle(50);
        assert.equal(at2.messages.length, 0);
        assert.equal(t1.faultStats().dropped, 10);

        faults.set({ dropRate: 0 });
        faults.blockOneWay([1], [2]);
        t1.send(2, heartbeat(1, 2, 100));
        t2.send(1, heartbeat(2, 1, 200));
        await at1.waitForMessages(1);
        await settle(50);
        assert.equal(at2.messages.length, 0, "1 → 2 is cut");
        assert.deepEqual(at1.messages.map((m) => m.commit), [200], "2 → 1 still flows");

        faults.heal();
        t1.send(2, heartbeat(1, 2, 300));
        assert.deepEqual((await at2.waitForMessages(1)).map((m) => m.commit), [300]);
      }));

    it("a closed transport receives nothing and sending to it is harmless", () =>
      withHarness(target, MIB, async (h) => {
        const [t1, t2] = await Promise.all([h.connect(1), h.connect(2)]);
        const at2 = new Collector(t2);
        await t2.close();
        await t2.close();
        t1.send(2, heartbeat(1, 2, 1));
        await t1.flush();
        await settle(50);
        assert.equal(at2.messages.length, 0);
        t2.send(1, { ...heartbeat(2, 1, 1), type: MessageType.HeartbeatResp });
        assert.equal(t2.stats().messagesSent, 0);
      }));
  });
}

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeRaftBatch } from "../../protocol/raft-codec.js";
import { EntryType, MessageType, emptyMessage, type Message } from "../../protocol/raft.js";
import { prng, randInt } from "../../protocol/test-util.js";
import { BATCH_ENVELOPE_MAX, encodedMessageSize } from "./batch-size.js";

/** Numbers at every MessagePack width boundary, so each size branch is exercised. */
const EDGES = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
/** Byte contents do not change sizes: every byte field is a slice of this. */
const BYTES = new Uint8Array(70000).fill(0xab);

function randomMessage(rand: () => number): Message {
  const pick = (): number => EDGES[randInt(rand, EDGES.length)];
  const nodeId = (): number => 1 + randInt(rand, 2 ** 31 - 1);
  const types = [MessageType.App, MessageType.AppResp, MessageType.Heartbeat, MessageType.Vote, MessageType.Snap, MessageType.ReadIndex] as const;
  const type = types[randInt(rand, types.length)];
  const group = ["g", "orders-3", "ü".repeat(randInt(rand, 40)) + "x", "t".repeat(randInt(rand, 300) + 1)][randInt(rand, 4)];
  const m: Message = {
    ...emptyMessage(type, group, nodeId(), nodeId(), pick()),
    logTerm: pick(),
    commit: pick(),
    rejectHint: pick(),
    reject: rand() < 0.5,
    index: type === MessageType.App ? randInt(rand, 2 ** 40) : pick(),
  };
  if (type === MessageType.App) {
    const count = [0, 1, 15, 16, 300][randInt(rand, 5)];
    m.entries = Array.from({ length: count }, (_, j) => ({
      term: pick(),
      index: m.index + 1 + j,
      type: rand() < 0.9 ? EntryType.Normal : EntryType.ConfChange,
      data: BYTES.subarray(0, [0, 1, 255, 256, 70000][randInt(rand, 5)]),
    }));
  }
  if (rand() < 0.3) m.context = BYTES.subarray(0, randInt(rand, 300));
  if (type === MessageType.Snap) {
    const ids = (): number[] => Array.from({ length: randInt(rand, 20) }, nodeId);
    const data = BYTES.subarray(0, randInt(rand, 1000));
    m.snapshot = {
      meta: { index: pick(), term: pick(), confState: { voters: ids(), votersOutgoing: ids(), learners: ids(), learnersNext: ids(), autoLeave: rand() < 0.5 } },
      offset: randInt(rand, 1000),
      total: 2000 + randInt(rand, 2 ** 40),
      data,
    };
  }
  return m;
}

describe("batch size - estimates match the codec", () => {
  it("each message's size is exactly what it adds to an encoded batch", () => {
    const rand = prng(20261123);
    for (let i = 0; i < 2000; i++) {
      const m = randomMessage(rand);
      const alone = encodeRaftBatch([m]).length;
      const emptyBatch = encodeRaftBatch([]).length;
      assert.equal(encodedMessageSize(m), alone - emptyBatch, `message ${i} (type ${m.type})`);
    }
  });

  it("a batch is the sum of its messages plus an envelope of at most BATCH_ENVELOPE_MAX bytes", () => {
    const rand = prng(7);
    for (const count of [0, 1, 15, 16, 100, 20000]) {
      const messages = Array.from({ length: count }, (_, i) => (i < 100 ? randomMessage(rand) : emptyMessage(MessageType.Heartbeat, `g${i}`, 1, 2, 1)));
      const sum = messages.reduce((s, m) => s + encodedMessageSize(m), 0);
      const encoded = encodeRaftBatch(messages).length;
      assert.ok(encoded > sum && encoded <= sum + BATCH_ENVELOPE_MAX, `${count} messages: ${encoded} vs ${sum}`);
    }
  });
});

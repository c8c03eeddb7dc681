import { test } from "node:test";
import assert from "node:assert/strict";
import { Encoder, decode as msgpackDecode } from "@msgpack/msgpack";
import { RAFT_LIMITS, decodeRaftBatch, encodeRaftBatch } from "./raft-codec.js";
import { EntryType, MessageType, emptyMessage, type Message } from "./raft.js";
import { DecodeError } from "./decode-error.js";
import { encodeConfChange } from "./conf-change.js";
import { ConfChangeType } from "./raft.js";
import { mutate, onlyDecodeErrors, prng, randInt, randomBytes } from "./test-util.js";

const te = new TextEncoder();
const b = (s: string) => te.encode(s);
/** Hex bytes; on each line, text after `|` is a comment. */
const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\|[^\n]*/g, "").replace(/\s+/g, ""), "hex"));

const confState = { voters: [1, 2, 3], votersOutgoing: [1, 2, 4], learners: [5], learnersNext: [4], autoLeave: true };

/** One message of every type, each using the fields its type uses. */
function everyType(): Message[] {
  const g = "orders/3";
  const m = (type: Message["type"], fields: Partial<Message>): Message => ({ ...emptyMessage(type, g, 1, 2, 7), ...fields });
  return [
    m(MessageType.PreVote, { term: 8, logTerm: 6, index: 100 }),
    m(MessageType.PreVoteResp, { term: 8, reject: true }),
    m(MessageType.Vote, { logTerm: 6, index: 100, context: b("transfer") }),
    m(MessageType.VoteResp, {}),
    m(MessageType.App, {
      logTerm: 6,
      index: 100,
      commit: 99,
      entries: [
        { term: 7, index: 101, type: EntryType.Normal, data: new Uint8Array(0) },
        { term: 7, index: 102, type: EntryType.Normal, data: randomBytes(prng(3), 70_000) },
        {
          term: 7,
          index: 103,
          type: EntryType.ConfChange,
          data: encodeConfChange({ transition: "auto", changes: [{ type: ConfChangeType.AddLearner, nodeId: 5 }] }),
        },
      ],
    }),
    m(MessageType.AppResp, { index: 100, reject: true, rejectHint: 90, logTerm: 5 }),
    m(MessageType.Heartbeat, { commit: 2 ** 40, context: b("read-17") }),
    m(MessageType.HeartbeatResp, { context: b("read-17") }),
    m(MessageType.Snap, {
      index: 5000,
      snapshot: { meta: { index: 5000, term: 6, confState }, offset: 1 << 20, total: 3 << 20, data: randomBytes(prng(4), 1000) },
    }),
    m(MessageType.SnapResp, { index: 5000, reject: false }),
    m(MessageType.TimeoutNow, {}),
    m(MessageType.ReadIndex, { context: new Uint8Array([0, 1, 2]) }),
    m(MessageType.ReadIndexResp, { index: 77, context: new Uint8Array([0, 1, 2]) }),
    m(MessageType.Prop, { entries: [{ term: 0, index: 0, type: EntryType.Normal, data: b("proposal") }] }),
    m(MessageType.TransferLeader, { index: 3 }),
  ];
}

test("raft codec - round trip of every message type in one batch", () => {
  const messages = everyType();
  assert.equal(new Set(messages.map((m) => m.type)).size, Object.keys(MessageType).length);
  assert.deepEqual(decodeRaftBatch(encodeRaftBatch(messages)), messages);
});

test("raft codec - many groups in one payload, and the empty batch", () => {
  const messages = Array.from({ length: 5000 }, (_, i) => ({ ...emptyMessage(MessageType.Heartbeat, `topic-${i % 97}/${i}`, 1, 2, 3), commit: i }));
  const buf = encodeRaftBatch(messages);
  assert.ok(buf.length < 5000 * 30, `coalesced heartbeats are compact (${buf.length} bytes)`);
  assert.deepEqual(decodeRaftBatch(buf), messages);
  assert.deepEqual(decodeRaftBatch(encodeRaftBatch([])), []);
});

test("raft codec - decoded entry data, context and snapshot data are views into the payload, not copies", () => {
  const buf = encodeRaftBatch(everyType());
  const decoded = decodeRaftBatch(buf);
  const app = decoded.find((m) => m.type === MessageType.App)!;
  const data = app.entries[1].data;
  assert.equal(data.buffer, buf.buffer);
  assert.ok(data.byteOffset >= buf.byteOffset && data.byteOffset + data.length <= buf.byteOffset + buf.length);
  // Same memory: a write through the payload shows in the entry.
  const before = data[0];
  buf[data.byteOffset - buf.byteOffset] ^= 0xff;
  assert.equal(data[0], before ^ 0xff);
  assert.equal(decoded.find((m) => m.type === MessageType.Snap)!.snapshot!.data.buffer, buf.buffer);
  assert.equal(decoded.find((m) => m.type === MessageType.Heartbeat)!.context!.buffer, buf.buffer);
  // Also when the payload is a view into a larger buffer (as a transport may hand it over).
  const big = new Uint8Array(buf.length + 100);
  big.set(buf, 50);
  const inner = decodeRaftBatch(big.subarray(50, 50 + buf.length)).find((m) => m.type === MessageType.App)!.entries[1].data;
  assert.equal(inner.buffer, big.buffer);
});

test("raft codec - the payload is standard msgpack with positional arrays", () => {
  const m: Message = { ...emptyMessage(MessageType.Heartbeat, "g", 1, 2, 3), commit: 4 };
  assert.deepEqual(msgpackDecode(encodeRaftBatch([m])), [1, [[7, "g", 2, 1, 3, 0, 0, 4, false, 0, []]]]);
});

test("raft codec - golden bytes: a heartbeat and an append with one entry", () => {
  const heartbeat: Message = { ...emptyMessage(MessageType.Heartbeat, "t/0", 1, 2, 5), commit: 7 };
  const app: Message = {
    ...emptyMessage(MessageType.App, "t/0", 1, 3, 5),
    logTerm: 4,
    index: 200,
    commit: 7,
    entries: [{ term: 5, index: 201, type: EntryType.Normal, data: b("hi") }],
    context: b("c"),
  };
  const expected = hex(`
    92          | envelope: array of 2
    01          | wire version 1
    92          | messages: array of 2
    9b          | message 0: array of 11 (no context, no snapshot)
    07          |   type Heartbeat
    a3 74 2f 30 |   group "t/0"
    02          |   to 2
    01          |   from 1
    05          |   term 5
    00          |   logTerm 0
    00          |   index 0
    07          |   commit 7
    c2          |   reject false
    00          |   rejectHint 0
    90          |   entries []
    9c          | message 1: array of 12 (context)
    05          |   type App
    a3 74 2f 30 |   group "t/0"
    03 01 05    |   to 3, from 1, term 5
    04          |   logTerm 4
    cc c8       |   index 200 (uint8)
    07          |   commit 7
    c2 00       |   reject false, rejectHint 0
    91          |   entries: array of 1
    94          |     entry: array of 4
    05          |       term 5
    cc c9       |       index 201
    00          |       type Normal
    c4 02 68 69 |       data bin8 "hi"
    c4 01 63    |   context bin8 "c"
  `);
  assert.deepEqual(encodeRaftBatch([heartbeat, app]), expected);
  assert.deepEqual(decodeRaftBatch(expected), [heartbeat, app]);
});

test("raft codec - encoding refuses messages the peer would reject", () => {
  const hb = emptyMessage(MessageType.Heartbeat, "g", 1, 2, 3);
  assert.throws(() => encodeRaftBatch([{ ...hb, term: -1 }]), RangeError);
  assert.throws(() => encodeRaftBatch([{ ...hb, commit: 1.5 }]), RangeError);
  assert.throws(() => encodeRaftBatch([{ ...hb, to: 0 }]), RangeError);
  assert.throws(() => encodeRaftBatch([{ ...hb, group: "" }]), RangeError);
  assert.throws(() => encodeRaftBatch([{ ...hb, entries: [{ term: 1, index: 1, type: EntryType.Normal, data: b("x") }] }]), RangeError);
  assert.throws(() => encodeRaftBatch([emptyMessage(MessageType.Snap, "g", 1, 2, 3)]), RangeError);
  const app = emptyMessage(MessageType.App, "g", 1, 2, 3);
  assert.throws(() => encodeRaftBatch([{ ...app, index: 5, entries: [{ term: 1, index: 7, type: EntryType.Normal, data: b("x") }] }]), RangeError);
});

/** The library's encoder builds hand-made hostile payloads (it writes a Uint8Array as bin). */
const libraryEncoder = new Encoder({ useBigInt64: true });

test("raft codec - malformed payloads give a DecodeError that says what was wrong", () => {
  const hb = [7, "g", 2, 1, 3, 0, 0, 4, false, 0, []];
  const cases: [unknown, RegExp][] = [
    [[3, [hb]], /wire version 3/],
    [[1, [[5, "g", 2, 1, 3, 0, 4, 4, false, 0, [[1, 5, 0, 0]]]]], /entry 0: data: expected binary data, found an integer/],
    [[2, [[5, "g", 2, 1, 3, 0, 4, 4, false, 0, [[1, 5, 0, 0]]]]], /entry 0: data: a reference, but no data was written before it/],
    [[2, [[5, "g", 2, 1, 3, 0, 4, 4, false, 0, [[1, 5, 0, new Uint8Array(1)]]], [5, "g", 3, 1, 3, 0, 4, 4, false, 0, [[1, 5, 0, 1]]]]], /message 1: entry 0: data reference: 1 is not in \[0, 0\]/],
    [[1, [[99, ...hb.slice(1)]]], /message 0: type: unknown message type 99/],
    [[1, [[7, "", ...hb.slice(2)]]], /message 0: group: empty/],
    [[1, [[7, "g", 0, ...hb.slice(3)]]], /message 0: to: node id 0/],
    [[1, [[7, "g", 2, 1, -3, ...hb.slice(5)]]], /message 0: term: -3 is not in/],
    [[1, [[7, "g", 2, 1, 1.5, ...hb.slice(5)]]], /message 0: term: expected an integer, found a float/],
    [[1, [[7, "g", 2, 1, 2n ** 60n, ...hb.slice(5)]]], /term: 1152921504606846976 is not in/],
    [[1, [hb, [7, "g", 2, 1, 3, 0, 0, 4, "no", 0, []]]], /message 1: reject: expected a boolean, found a string/],
    [[1, [[7, "g", 2, 1, 3, 0, 0, 4, false, 0, [[1, 1, 0, new Uint8Array(1)]]]]], /entries: a message of type 7 carries no entries/],
    [[1, [[5, "g", 2, 1, 3, 0, 4, 4, false, 0, [[1, 6, 0, new Uint8Array(1)]]]]], /entry 0: index 6, expected 5/],
    [[1, [[5, "g", 2, 1, 3, 0, 4, 4, false, 0, [[1, 5, 9, new Uint8Array(1)]]]]], /entry 0: type: unknown entry type 9/],
    [[1, [[5, "g", 2, 1, 3, 0, 4, 4, false, 0, [[1, 5, 0, "text"]]]]], /entry 0: data: expected binary data, found a string/],
    [[1, [[9, "g", 2, 1, 3, 0, 0, 0, false, 0, []]]], /snapshot: missing on a Snap message/],
    [[1, [[9, "g", 2, 1, 3, 0, 0, 0, false, 0, [], null, [[1, 1, [[1], [], [], [], false]], 5, 6, new Uint8Array(2)]]]], /runs past the total 6/],
    [[1, [[9, "g", 2, 1, 3, 0, 0, 0, false, 0, [], null, [[1, 1, [[0], [], [], [], false]], 0, 6, new Uint8Array(2)]]]], /voters: node id 0/],
    [[1, [hb.slice(0, 10)]], /message 0: message: array of 10 elements, expected 11 to 13/],
    [[1, [{ type: 7 }]], /message: expected an array, found a map/],
  ];
  assert.equal(decodeRaftBatch(libraryEncoder.encode([1, [hb]])).length, 1, "the unbroken payload decodes");
  for (const [value, re] of cases) {
    const buf = libraryEncoder.encode(value);
    assert.throws(() => decodeRaftBatch(buf), (e: unknown) => e instanceof DecodeError && re.test(e.message), `case ${re} should fail`);
  }
  const valid = encodeRaftBatch([emptyMessage(MessageType.Heartbeat, "g", 1, 2, 3)]);
  const trailing = new Uint8Array(valid.length + 1);
  trailing.set(valid);
  assert.throws(() => decodeRaftBatch(trailing), /raft batch: 1 bytes after the end/);
  assert.throws(() => decodeRaftBatch(valid.subarray(0, valid.length - 1)), /raft batch: message 0: entries: truncated/);
  assert.throws(() => decodeRaftBatch(new Uint8Array(0)), /raft batch: envelope: truncated/);
  assert.throws(() => decodeRaftBatch(new Uint8Array([0x22])), /raft batch: envelope: expected an array, found an integer/);
});

test("raft codec - entry data shared by several messages is written once and decodes as one view", () => {
  const data = randomBytes(prng(9), 20_000);
  const other = randomBytes(prng(10), 300);
  const app = (to: number, entries: Message["entries"]): Message => ({ ...emptyMessage(MessageType.App, "orders/3", 1, to, 7), index: 40, logTerm: 7, entries });
  const messages = [
    app(2, [{ term: 7, index: 41, type: EntryType.Normal, data }]),
    app(3, [{ term: 7, index: 41, type: EntryType.Normal, data }]),
    app(4, [
      { term: 7, index: 41, type: EntryType.Normal, data },
      { term: 7, index: 42, type: EntryType.Normal, data: other },
    ]),
  ];
  const payload = encodeRaftBatch(messages);
  assert.ok(payload.length < data.length + other.length + 200, `${payload.length} bytes: each data once`);
  assert.equal(payload[1], 2, "version 2: the batch has back-references");
  const decoded = decodeRaftBatch(payload);
  assert.deepEqual(decoded, messages);
  assert.equal(decoded[1].entries[0].data, decoded[0].entries[0].data);
  assert.equal(decoded[2].entries[0].data, decoded[0].entries[0].data);
  assert.equal(encodeRaftBatch(messages.slice(0, 1))[1], 1, "a batch without back-references stays version 1");
});

test("raft codec - lying array headers cannot make the decoder allocate (nested 4-billion-element arrays)", () => {
  // array32 headers each claiming 2^32-1 elements, nested 100,000 deep: a generic decoder that
  // allocates on the header runs out of memory; ours rejects the first header.
  const n = 100_000;
  const buf = new Uint8Array(n * 5);
  for (let i = 0; i < n; i++) buf.set([0xdd, 0xff, 0xff, 0xff, 0xff], i * 5);
  assert.throws(() => decodeRaftBatch(buf), /envelope: array of 4294967295 elements, expected 2/);
  const inner = new Uint8Array(7 + 100);
  inner.set([0x92, 0x01, 0xdd, 0x00, 0x00, 0xff, 0xff]);
  assert.throws(() => decodeRaftBatch(inner), /messages: array of 65535 elements but only 100 bytes left/);
  assert.ok(RAFT_LIMITS.messagesPerBatch >= 65535);
});

test("raft codec - fuzz: random and damaged payloads only ever throw DecodeError; what decodes re-encodes", () => {
  const seed = 424242;
  const rand = prng(seed);
  const shared = [{ term: 2, index: 1, type: EntryType.Normal, data: randomBytes(rand, 40) }];
  const valid = [
    encodeRaftBatch(everyType().map((m) => (m.type === MessageType.App ? { ...m, entries: m.entries.slice(0, 1) } : m))),
    encodeRaftBatch([emptyMessage(MessageType.Heartbeat, "g", 1, 2, 3)]),
    encodeRaftBatch([2, 3, 4].map((to) => ({ ...emptyMessage(MessageType.App, "g", 1, to, 2), entries: shared }))),
  ];
  let decodedOk = 0;
  for (let i = 0; i < 20_000; i++) {
    let input: Uint8Array;
    if (i % 10 === 0) input = randomBytes(rand, randInt(rand, 64));
    else {
      input = valid[randInt(rand, valid.length)];
      const rounds = 1 + randInt(rand, 3);
      for (let k = 0; k < rounds; k++) input = mutate(rand, input);
    }
    let decoded: Message[] | undefined;
    onlyDecodeErrors(() => (decoded = decodeRaftBatch(input)), input, seed);
    if (decoded) {
      decodedOk++;
      // Never a half-valid Message: whatever decodes is something the encoder accepts, unchanged.
      assert.deepEqual(decodeRaftBatch(encodeRaftBatch(decoded)), decoded);
    }
  }
  assert.ok(decodedOk > 100, `some mutations still decode (${decodedOk})`);
});

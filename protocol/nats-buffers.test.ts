import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { DIRECT_WRITE_BYTES, installNatsBufferPatch, writeFrames } from "./nats-buffers.js";
import { prng, randInt, randomBytes } from "./test-util.js";

const require = createRequire(import.meta.url);
const { Parser, Kind } = require("nats/lib/nats-base-client/parser.js") as {
  Parser: new (dispatcher: { push(e: ParserEvent): void }) => { parse(buf: Uint8Array): void };
  Kind: Record<string, number>;
};

interface ParserEvent {
  kind: number;
  msg?: { subject: Uint8Array; reply?: Uint8Array; sid: number; hdr: number };
  data?: Uint8Array;
}

interface Sent {
  subject: string;
  sid: number;
  reply?: string;
  /** Header bytes (an HMSG) at the start of `payload`, or undefined (a MSG). */
  headerBytes?: number;
  payload: Uint8Array;
}

interface Received {
  subject: string;
  sid: number;
  reply?: string;
  headerBytes?: number;
  data: Uint8Array;
}

const text = new TextDecoder();
const ascii = (s: string) => new TextEncoder().encode(s);

/** The server's wire form of `messages`, with where each payload starts in it. */
function wire(messages: readonly Sent[]): { bytes: Uint8Array; payloadAt: number[] } {
  const parts: Uint8Array[] = [];
  const payloadAt: number[] = [];
  let at = 0;
  for (const m of messages) {
    const reply = m.reply === undefined ? "" : ` ${m.reply}`;
    const line = ascii(m.headerBytes === undefined ? `MSG ${m.subject} ${m.sid}${reply} ${m.payload.length}\r\n` : `HMSG ${m.subject} ${m.sid}${reply} ${m.headerBytes} ${m.payload.length}\r\n`);
    payloadAt.push(at + line.length);
    const crlf = ascii("\r\n");
    parts.push(line, m.payload, crlf);
    at += line.length + m.payload.length + crlf.length;
  }
  return { bytes: Buffer.concat(parts), payloadAt };
}

/** Feeds `bytes` to a fresh nats.js parser in reads that end at `cuts`; returns what it delivered. */
function parseInReads(bytes: Uint8Array, cuts: readonly number[]): Received[] {
  const received: Received[] = [];
  const parser = new Parser({
    push(e) {
      if (e.kind !== Kind.MSG) return;
      const { subject, reply, sid, hdr } = e.msg!;
      received.push({
        subject: text.decode(subject),
        sid,
        ...(reply !== undefined && reply.length > 0 && { reply: text.decode(reply) }),
        ...(hdr >= 0 && { headerBytes: hdr }),
        data: e.data!,
      });
    },
  });
  let from = 0;
  // Fresh Buffers per read, as the socket hands them over.
  for (const to of [...cuts, bytes.length]) {
    parser.parse(Buffer.from(bytes.subarray(from, to)));
    from = to;
  }
  return received;
}

function assertDelivered(received: readonly Received[], sent: readonly Sent[]): void {
  assert.equal(received.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    const { payload, ...meta } = sent[i];
    const { data, ...got } = received[i];
    assert.deepEqual(got, meta, `message ${i}`);
    assert.ok(Buffer.from(payload).equals(data), `message ${i}: ${data.length} bytes delivered, ${payload.length} sent, contents differ`);
  }
}

function message(rand: () => number, size: number, i: number): Sent {
  const headers = ascii("NATS/1.0\r\nk: v\r\n\r\n");
  const withHeaders = i % 3 === 1 && size >= headers.length;
  const payload = randomBytes(rand, size);
  if (withHeaders) payload.set(headers);
  return {
    subject: `flotilla.c.raft.${i}`,
    sid: i + 1,
    ...(i % 2 === 0 && { reply: `_INBOX.x.${i}` }),
    ...(withHeaders && { headerBytes: headers.length }),
    payload,
  };
}

const CHUNK = 64 * 1024;

test("nats buffers - the patch applies to the pinned nats.js", () => {
  assert.deepEqual(installNatsBufferPatch(), { applied: true });
});

test("nats buffers - payloads of every size arrive byte for byte in 64 KiB reads, spanning ones in a buffer of exactly their size", () => {
  installNatsBufferPatch();
  const rand = prng(1);
  const sizes = [0, 1, 2, 100, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 900 * 1024, 1 << 20, 8 << 20];
  const sent = sizes.map((size, i) => message(rand, size, i));
  const { bytes, payloadAt } = wire(sent);
  const cuts: number[] = [];
  for (let at = CHUNK; at < bytes.length; at += CHUNK) cuts.push(at);
  const received = parseInReads(bytes, cuts);
  assertDelivered(received, sent);
  let spanning = 0;
  for (let i = 0; i < sent.length; i++) {
    const start = payloadAt[i];
    const end = start + sent[i].payload.length;
    if (Math.floor(start / CHUNK) === Math.floor(end / CHUNK) || end % CHUNK === 0) continue;
    // Gathered across reads: nats.js's doubling buffer would leave it in a larger one.
    spanning++;
    assert.equal(received[i].data.buffer.byteLength, sent[i].payload.length, `message ${i} (${sent[i].payload.length} bytes) sits in a buffer of ${received[i].data.buffer.byteLength}`);
  }
  assert.ok(spanning >= 6, `only ${spanning} payloads spanned reads`);
});

test("nats buffers - a payload exactly one read long, starting and ending at read boundaries", () => {
  installNatsBufferPatch();
  const rand = prng(2);
  const sent = [message(rand, CHUNK, 0), message(rand, CHUNK, 1), message(rand, 0, 2)];
  const { bytes, payloadAt } = wire(sent);
  // Reads: the first MSG line; its payload; the rest split at the second payload's start and end.
  const cuts = [payloadAt[0], payloadAt[0] + CHUNK, payloadAt[1], payloadAt[1] + CHUNK, payloadAt[2]];
  assertDelivered(parseInReads(bytes, cuts), sent);
});

test("nats buffers - every cut of a small stream, and random reads of a large one (fuzz), deliver the same messages", () => {
  installNatsBufferPatch();
  const rand = prng(3);
  const small = [0, 5, 1, 40, 0, 17].map((size, i) => message(rand, size, i));
  const smallWire = wire(small).bytes;
  for (let a = 0; a <= smallWire.length; a++) {
    for (let b = a; b <= smallWire.length; b += 7) assertDelivered(parseInReads(smallWire, a === b ? [a] : [a, b]), small);
  }
  for (let round = 0; round < 30; round++) {
    const sent = Array.from({ length: 1 + randInt(rand, 8) }, (_, i) => message(rand, rand() < 0.3 ? randInt(rand, 100) : randInt(rand, 300_000), i));
    const { bytes } = wire(sent);
    const cuts: number[] = [];
    for (let at = 1 + randInt(rand, CHUNK); at < bytes.length; at += 1 + randInt(rand, rand() < 0.2 ? 16 : CHUNK)) cuts.push(at);
    assertDelivered(parseInReads(bytes, cuts), sent);
  }
});

test("nats buffers - writes: large payloads by reference, each run of small buffers copied into one", () => {
  const proto = ascii("PUB a 20000\r\n");
  const big = new Uint8Array(DIRECT_WRITE_BYTES).fill(7);
  const crlf = ascii("\r\n");
  const small = ascii("PUB b 1\r\nx\r\n");
  const frames = writeFrames([proto, big, crlf, small, ascii("PUB c 1\r\n"), big, crlf]);
  assert.equal(frames.length, 5);
  assert.ok(frames[1] === big && frames[3] === big, "large payloads are written as they are");
  assert.deepEqual(frames[0], proto);
  assert.equal(text.decode(frames[2]), "\r\nPUB b 1\r\nx\r\nPUB c 1\r\n");
  assert.deepEqual(frames[4], crlf);
  assert.deepEqual(writeFrames([]), []);
});

/**
 * Sizes of Raft messages as `encodeRaftBatch` writes them, computed without encoding, so the
 * sender can cut batches under the wire's payload limit before it encodes anything.
 *
 * This mirrors the codec's layout (protocol/raft-codec.ts) and MessagePack's smallest encodings,
 * which the codec uses. It is meant to be exact; if the codec ever grows, the sender still checks
 * each encoded batch and splits it (see CoalescingSender), and a test compares these figures with
 * real encodings.
 */
import type { ConfState, Message } from "../../protocol/raft.js";

function uintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n <= 0xff) return 2;
  if (n <= 0xffff) return 3;
  if (n <= 0xffffffff) return 5;
  return 9;
}

function arrayHeaderSize(n: number): number {
  return n <= 15 ? 1 : n <= 0xffff ? 3 : 5;
}

function strSize(s: string): number {
  const len = Buffer.byteLength(s, "utf8");
  return (len <= 31 ? 1 : len <= 0xff ? 2 : len <= 0xffff ? 3 : 5) + len;
}

function binSize(len: number): number {
  return (len <= 0xff ? 2 : len <= 0xffff ? 3 : 5) + len;
}

function listSize(ids: number[]): number {
  let size = arrayHeaderSize(ids.length);
  for (const id of ids) size += uintSize(id);
  return size;
}

function confStateSize(cs: ConfState): number {
  return 1 + listSize(cs.voters) + listSize(cs.votersOutgoing) + listSize(cs.learners) + listSize(cs.learnersNext) + 1;
}

/** Bytes one message adds to a batch. */
export function encodedMessageSize(m: Message): number {
  let size =
    1 + // the message array header (11 to 13 fields: a fixarray)
    uintSize(m.type) +
    strSize(m.group) +
    uintSize(m.to) +
    uintSize(m.from) +
    uintSize(m.term) +
    uintSize(m.logTerm) +
    uintSize(m.index) +
    uintSize(m.commit) +
    1 + // reject
    uintSize(m.rejectHint) +
    arrayHeaderSize(m.entries.length);
  for (const e of m.entries) size += 1 + uintSize(e.term) + uintSize(e.index) + uintSize(e.type) + binSize(e.data.length);
  if (m.context || m.snapshot) size += m.context ? binSize(m.context.length) : 1;
  const s = m.snapshot;
  if (s) {
    size += 1 + 1 + uintSize(s.meta.index) + uintSize(s.meta.term) + confStateSize(s.meta.confState);
    size += uintSize(s.offset) + uintSize(s.total) + binSize(s.data.length);
  }
  return size;
}

/**
 * Bytes of the batch envelope around `count` messages: [version, [messages...]].
 * `BATCH_ENVELOPE_MAX` bounds it for any count a batch may hold.
 */
export const BATCH_ENVELOPE_MAX = 1 + 9 + 5;

/** Most bytes the codec writes for a back-reference to entry data written earlier in the batch. */
const DATA_REFERENCE_MAX = 5;

/**
 * Bytes `m` takes less than `encodedMessageSize(m)` in a batch that already holds the data objects
 * in `written`: the codec writes each of those as a back-reference instead of the bytes.
 */
export function sharedEntrySavings(m: Message, written: ReadonlySet<Uint8Array>): number {
  let saved = 0;
  for (const e of m.entries) if (written.has(e.data)) saved += binSize(e.data.length) - DATA_REFERENCE_MAX;
  return saved;
}

/** Conversions between what users hand in (Buffer | string) and what the record batch carries. */
import type { RecordHeader } from "../protocol/record-batch.js";
import type { Bytes, MessageHeaders, RecordHeaders } from "./types.js";

export function toBytes(v: Bytes | null | undefined): Uint8Array | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return Buffer.from(v, "utf8");
  return v;
}

export function toRecordHeaders(h: MessageHeaders | undefined): RecordHeader[] {
  if (!h) return [];
  const out: RecordHeader[] = [];
  for (const [key, v] of Object.entries(h)) {
    if (Array.isArray(v)) for (const x of v) out.push({ key, value: toBytes(x) });
    else out.push({ key, value: toBytes(v) });
  }
  return out;
}

/** Headers as the API gives them; values are the Buffer views `recordsFrom` reads. */
export function fromRecordHeaders(headers: readonly RecordHeader[]): RecordHeaders {
  const out: RecordHeaders = {};
  for (const { key, value } of headers) {
    const v = value as Buffer | null;
    if (!Object.hasOwn(out, key)) out[key] = v;
    else {
      const prev = out[key];
      out[key] = Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
  }
  return out;
}

function zigzagVarintSize(n: number): number {
  let u = ((n << 1) ^ (n >> 31)) >>> 0;
  let size = 1;
  while (u >= 0x80) {
    u >>>= 7;
    size++;
  }
  return size;
}

function lengthPrefixed(b: Uint8Array | null): number {
  return b === null ? 1 : zigzagVarintSize(b.length) + b.length;
}

/**
 * An upper bound on the bytes one record takes in a RecordBatch v2: exact for keys, values and
 * headers, the widest case for the length prefix (5), timestamp delta (10) and offset delta (5).
 */
export function recordSizeBound(key: Uint8Array | null, value: Uint8Array | null, headers: RecordHeader[]): number {
  let body = 1 + 10 + 5 + lengthPrefixed(key) + lengthPrefixed(value) + zigzagVarintSize(headers.length);
  for (const h of headers) body += lengthPrefixed(Buffer.from(h.key, "utf8")) + lengthPrefixed(h.value);
  return 5 + body;
}

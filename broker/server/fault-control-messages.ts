/**
 * The test-only fault-control messages (subject `faults.<brokerId>`, broker-only in ops' NATS
 * config; served only by a broker started with `--fault-control`): what the chaos suite sends a
 * broker to cut, slow down or lose its Raft traffic, and the broker's answer.
 *
 * Wire: UTF-8 JSON objects `{ "v": 1, "type": …, … }`, checked field by field on decode; a message
 * that fails gets `{ "error": WireError }` with INVALID_REQUEST, never a crash.
 */
import { FlotillaError, type WireError } from "../../protocol/errors.js";
import type { FaultStats } from "../transport/index.js";
import { parseJsonMessage } from "./json-message.js";

export const FAULT_WIRE_VERSION = 1;
const MAX_MESSAGE_BYTES = 64 * 1024;
const MAX_BROKERS = 1024;
const MAX_DELAY_MS = 60_000;

export type FaultCommand =
  /** Cuts every link between brokers of different sides, both ways (a broker in no side keeps its links). */
  | { type: "partition"; sides: number[][] }
  /** Cuts the links from each of `from` to each of `to` only. */
  | { type: "blockOneWay"; from: number[]; to: number[] }
  /** Loss, duplication and delay of every Raft message this broker sends. */
  | { type: "degrade"; dropRate: number; duplicateRate: number; delayMs: [number, number] | null }
  /** Removes every partition and every degradation. */
  | { type: "reset" }
  /** Changes nothing: answers with the counters. */
  | { type: "stats" };

export type FaultReply = { stats: FaultStats } | { error: WireError };

const encoder = new TextEncoder();

export function encodeFaultMessage(message: FaultCommand | FaultReply): Uint8Array {
  return encoder.encode(JSON.stringify({ v: FAULT_WIRE_VERSION, ...message }));
}

function bad(what: string): never {
  throw new FlotillaError("INVALID_REQUEST", `fault-control message: ${what}`);
}

function parseObject(bytes: Uint8Array): Record<string, unknown> {
  return parseJsonMessage(bytes, { what: "fault-control message", maxBytes: MAX_MESSAGE_BYTES, version: FAULT_WIRE_VERSION });
}

function brokerIds(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length > MAX_BROKERS) bad(`${what} must be a list of at most ${MAX_BROKERS} broker ids`);
  for (const id of v) if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1 || id > 2 ** 31 - 1) bad(`${what}: ${JSON.stringify(id)} is not a broker id`);
  return v as number[];
}

function rate(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== "number" || !(v >= 0 && v <= 1)) bad(`${k} must be a number in [0, 1], got ${JSON.stringify(v)}`);
  return v;
}

function delay(v: unknown): [number, number] | null {
  if (v === null) return null;
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === "number" && x >= 0 && x <= MAX_DELAY_MS) || v[1] < v[0]) {
    bad(`delayMs must be null or [min, max] with 0 <= min <= max <= ${MAX_DELAY_MS}`);
  }
  return [v[0], v[1]];
}

export function decodeFaultCommand(bytes: Uint8Array): FaultCommand {
  const o = parseObject(bytes);
  switch (o.type) {
    case "partition": {
      if (!Array.isArray(o.sides) || o.sides.length < 2 || o.sides.length > MAX_BROKERS) bad("sides must be a list of at least two lists of broker ids");
      const sides = o.sides.map((s, i) => brokerIds(s, `sides[${i}]`));
      const all = sides.flat();
      if (new Set(all).size !== all.length) bad("a broker is on two sides");
      return { type: "partition", sides };
    }
    case "blockOneWay":
      return { type: "blockOneWay", from: brokerIds(o.from, "from"), to: brokerIds(o.to, "to") };
    case "degrade":
      return { type: "degrade", dropRate: rate(o, "dropRate"), duplicateRate: rate(o, "duplicateRate"), delayMs: delay(o.delayMs) };
    case "reset":
    case "stats":
      return { type: o.type };
    default:
      bad(`unknown type ${JSON.stringify(o.type)}`);
  }
}

const COUNTERS = ["dropped", "partitioned", "duplicated", "delayed"] as const;

/** The reply: counters, or the error the command was refused with. Throws FlotillaError on anything else. */
export function decodeFaultReply(bytes: Uint8Array): FaultStats {
  const o = parseObject(bytes);
  if (o.error !== undefined) {
    const e = o.error as Partial<WireError> | null;
    if (e === null || typeof e !== "object" || typeof e.id !== "number" || typeof e.message !== "string") bad("error is not a wire error");
    throw FlotillaError.fromWire(e as WireError);
  }
  const s = o.stats as Record<string, unknown> | null;
  if (s === null || typeof s !== "object") bad("reply has neither stats nor error");
  for (const k of COUNTERS) if (typeof s[k] !== "number" || !Number.isSafeInteger(s[k]) || (s[k] as number) < 0) bad(`stats.${k} is not a count`);
  return { dropped: s.dropped as number, partitioned: s.partitioned as number, duplicated: s.duplicated as number, delayed: s.delayed as number };
}

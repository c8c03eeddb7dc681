/**
 * The broker ↔ controller-leader messages on the `controller` subject (broker-only in ops' NATS
 * config): registration, heartbeats, forwarded admin writes, and the runtime lookup that describe
 * requests use. protocol/requests.ts has client messages only, so these small ones live here.
 *
 * Wire: UTF-8 JSON objects `{ "v": 1, "type": …, … }`. Offsets travel as decimal strings. Every
 * field is checked on decode (a broker-only subject is still not trusted to hold only our bytes);
 * a message that fails gets `{ "error": WireError }` with INVALID_REQUEST.
 */
import { FlotillaError, type WireError } from "../../protocol/errors.js";
import { REASSIGNMENT_PHASES, type ReassignmentPhase } from "../controller/index.js";
import { parseJsonMessage } from "./json-message.js";
import type { GonePartition, LedReport } from "./led-report.js";

export const CONTROLLER_WIRE_VERSION = 1;
/** A message larger than this is refused before parsing. */
const MAX_MESSAGE_BYTES = 8 << 20;

/**
 * One partition a broker leads, as it reports it: [topic, partition, term, highWatermark,
 * logStartOffset, inSyncReplicas] (the last one absent from brokers that do not report it).
 */
export type LedPartition = [topic: string, partition: number, term: number, highWatermark: string, logStartOffset: string, isr?: number[]];

export type ControllerRequest =
  | { type: "register"; brokerId: number; incarnation: string }
  /** `led` and the other report fields: led-report.ts (a full report, or the changes since `ledBase`). */
  | ({ type: "heartbeat"; brokerId: number; brokerEpoch: number; appliedIndex: number; shuttingDown: boolean } & LedReport)
  | { type: "createTopic"; topic: string; partitions: number; replicationFactor: number; configs: Record<string, string> }
  | { type: "deleteTopic"; topic: string }
  | { type: "runtime" }
  /** A client's admin write (protocol/requests.ts bytes, as the client sent them) forwarded by the broker it reached. */
  | { type: "adminWrite"; request: Uint8Array }
  /** A partition leader reporting how far its group's reassignment has got (see reassignment-mover.ts). */
  | { type: "reassignmentReport"; topic: string; topicId: string; partition: number; step: ReassignmentPhase | "done" };

/** A leadership move the controller asks a broker for in a heartbeat reply: [topic, partition, to]. */
export type LeaderMoveOrder = [topic: string, partition: number, to: number];

export type RegisterReply = { epoch: number } | { error: WireError };
/** `ledSeq`: the number of the broker's led report the controller holds now (led-report.ts). */
export type HeartbeatReplyWire = { type: "accepted"; fenced: boolean; moves?: LeaderMoveOrder[]; ledSeq?: number } | { type: "register"; reason: string } | { error: WireError };
/** `appliedIndex`: the metadata index of the record; a broker waits to have applied it before answering its client. */
export type WriteReply = { appliedIndex: number } | { error: WireError };
/** `response`: the client's answer (protocol/requests.ts bytes), to relay once the broker has applied `appliedIndex`. */
export type AdminWriteReply = { appliedIndex: number; response: Uint8Array } | { error: WireError };
/** One partition as the controller leader last heard of it from its leader: [topic, partition, leader, highWatermark, logStartOffset, isr?]. */
export type RuntimePartition = [topic: string, partition: number, leader: number, highWatermark: string, logStartOffset: string, isr?: number[]];
export type RuntimeReply = { controllerLeader: number; alive: number[]; partitions: RuntimePartition[] } | { error: WireError };

const encoder = new TextEncoder();

/** Byte fields (forwarded client messages) travel as base64 strings. */
export function encodeControllerMessage(message: object): Uint8Array {
  // The holder's raw value: a Buffer's toJSON has already run by the time `value` is seen.
  const bytesAsBase64 = function (this: Record<string, unknown>, key: string, value: unknown): unknown {
    const raw = this[key];
    return raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64") : value;
  };
  return encoder.encode(JSON.stringify({ v: CONTROLLER_WIRE_VERSION, ...message }, bytesAsBase64));
}

function bad(what: string): never {
  throw new FlotillaError("INVALID_REQUEST", `controller message: ${what}`);
}

function parseObject(bytes: Uint8Array): Record<string, unknown> {
  return parseJsonMessage(bytes, { what: "controller message", maxBytes: MAX_MESSAGE_BYTES, version: CONTROLLER_WIRE_VERSION });
}

const isInt = (v: unknown, min: number, max = 2 ** 31 - 1): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
const isBrokerIds = (v: unknown): v is number[] => Array.isArray(v) && v.length <= 1024 && v.every((x) => isInt(x, 1));
const isDecimal = (v: unknown): v is string => typeof v === "string" && /^(0|[1-9][0-9]{0,18})$/.test(v);

function int(o: Record<string, unknown>, k: string, min: number, max?: number): number {
  const v = o[k];
  if (!isInt(v, min, max)) bad(`${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function text(o: Record<string, unknown>, k: string, maxLength = 1024): string {
  const v = o[k];
  if (typeof v !== "string" || v.length === 0 || v.length > maxLength) bad(`${k} must be a non-empty string of at most ${maxLength} characters`);
  return v;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64(o: Record<string, unknown>, k: string): Uint8Array {
  const v = o[k];
  if (typeof v !== "string" || v.length % 4 !== 0 || !BASE64.test(v)) bad(`${k} must be base64`);
  return Buffer.from(v, "base64");
}

function goneList(v: unknown): GonePartition[] {
  if (!Array.isArray(v) || v.length > 1_000_000) bad("ledGone must be a list");
  return v.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== "string" || e[0].length === 0 || e[0].length > 249 || !isInt(e[1], 0)) bad(`ledGone[${i}] is not [topic, partition]`);
    return e as GonePartition;
  });
}

/** A heartbeat's optional report fields (led-report.ts), checked. */
function ledReportFields(o: Record<string, unknown>): Omit<LedReport, "led"> {
  const seq = (k: string): number | undefined => (o[k] === undefined ? undefined : int(o, k, 1, Number.MAX_SAFE_INTEGER));
  const ledSeq = seq("ledSeq");
  const ledBase = seq("ledBase");
  if (ledBase !== undefined && ledSeq === undefined) bad("ledBase needs ledSeq");
  if (o.ledGone !== undefined && ledBase === undefined) bad("ledGone needs ledBase");
  return {
    ...(ledSeq !== undefined && { ledSeq }),
    ...(ledBase !== undefined && { ledBase }),
    ...(o.ledGone !== undefined && { ledGone: goneList(o.ledGone) }),
  };
}

const REPORT_STEPS: ReadonlySet<unknown> = new Set([...REASSIGNMENT_PHASES, "done"]);

function ledList(v: unknown): LedPartition[] {
  if (!Array.isArray(v) || v.length > 1_000_000) bad("led must be a list");
  return v.map((e, i) => {
    if (!Array.isArray(e) || (e.length !== 5 && e.length !== 6) || typeof e[0] !== "string" || e[0].length === 0 || e[0].length > 249) bad(`led[${i}] is not [topic, partition, term, hw, lso, isr?]`);
    if (!isInt(e[1], 0) || !isInt(e[2], 0, Number.MAX_SAFE_INTEGER) || !isDecimal(e[3]) || !isDecimal(e[4])) bad(`led[${i}] has a bad number`);
    if (e.length === 6 && !isBrokerIds(e[5])) bad(`led[${i}]'s isr is not a list of broker ids`);
    return e as LedPartition;
  });
}

/** Decodes a request on the controller subject. Throws FlotillaError (INVALID_REQUEST, UNSUPPORTED_VERSION). */
export function decodeControllerRequest(bytes: Uint8Array): ControllerRequest {
  const o = parseObject(bytes);
  switch (o.type) {
    case "register":
      return { type: "register", brokerId: int(o, "brokerId", 1), incarnation: text(o, "incarnation", 64) };
    case "heartbeat":
      if (typeof o.shuttingDown !== "boolean") bad("shuttingDown must be a boolean");
      return {
        type: "heartbeat",
        brokerId: int(o, "brokerId", 1),
        brokerEpoch: int(o, "brokerEpoch", 1, Number.MAX_SAFE_INTEGER),
        appliedIndex: int(o, "appliedIndex", 0, Number.MAX_SAFE_INTEGER),
        shuttingDown: o.shuttingDown,
        led: ledList(o.led),
        ...ledReportFields(o),
      };
    case "createTopic": {
      const configs = o.configs;
      if (configs === null || typeof configs !== "object" || Array.isArray(configs) || Object.values(configs).some((x) => typeof x !== "string")) {
        bad("configs must be an object of strings");
      }
      return {
        type: "createTopic",
        topic: text(o, "topic", 249),
        partitions: int(o, "partitions", 1),
        replicationFactor: int(o, "replicationFactor", 1),
        configs: configs as Record<string, string>,
      };
    }
    case "deleteTopic":
      return { type: "deleteTopic", topic: text(o, "topic", 249) };
    case "runtime":
      return { type: "runtime" };
    case "adminWrite":
      return { type: "adminWrite", request: base64(o, "request") };
    case "reassignmentReport":
      if (!REPORT_STEPS.has(o.step)) bad(`step must be one of ${[...REPORT_STEPS].join(", ")}`);
      return {
        type: "reassignmentReport",
        topic: text(o, "topic", 249),
        topicId: text(o, "topicId", 36),
        partition: int(o, "partition", 0),
        step: o.step as ReassignmentPhase | "done",
      };
    default:
      bad(`unknown type ${JSON.stringify(o.type)}`);
  }
}

function wireError(o: Record<string, unknown>): WireError | undefined {
  const e = o.error;
  if (e === undefined) return undefined;
  if (e === null || typeof e !== "object" || !isInt((e as WireError).id, 1) || typeof (e as WireError).message !== "string") bad("error is malformed");
  return e as WireError;
}

/** Decodes the controller's reply; an `{ error }` reply throws it as a FlotillaError. */
export function decodeControllerReply<T>(bytes: Uint8Array, check: (o: Record<string, unknown>) => T): T {
  const o = parseObject(bytes);
  const e = wireError(o);
  if (e) throw FlotillaError.fromWire(e);
  return check(o);
}

export const replyChecks = {
  register: (o: Record<string, unknown>) => ({ epoch: int(o, "epoch", 1, Number.MAX_SAFE_INTEGER) }),
  heartbeat: (o: Record<string, unknown>): { type: "accepted"; fenced: boolean; moves: LeaderMoveOrder[]; ledSeq?: number } | { type: "register"; reason: string } => {
    if (o.type === "accepted" && typeof o.fenced === "boolean") {
      const ledSeq = o.ledSeq === undefined ? undefined : int(o, "ledSeq", 1, Number.MAX_SAFE_INTEGER);
      return { type: "accepted", fenced: o.fenced, moves: moveList(o.moves), ...(ledSeq !== undefined && { ledSeq }) };
    }
    if (o.type === "register" && typeof o.reason === "string") return { type: "register", reason: o.reason };
    bad("heartbeat reply is malformed");
  },
  write: (o: Record<string, unknown>) => ({ appliedIndex: int(o, "appliedIndex", 0, Number.MAX_SAFE_INTEGER) }),
  adminWrite: (o: Record<string, unknown>) => ({ appliedIndex: int(o, "appliedIndex", 0, Number.MAX_SAFE_INTEGER), response: base64(o, "response") }),
  runtime: (o: Record<string, unknown>) => {
    const controllerLeader = int(o, "controllerLeader", 1);
    if (!Array.isArray(o.alive) || o.alive.some((x) => !isInt(x, 1))) bad("alive must be broker ids");
    const partitions = o.partitions;
    if (!Array.isArray(partitions)) bad("partitions must be a list");
    for (const p of partitions) {
      if (!Array.isArray(p) || (p.length !== 5 && p.length !== 6) || typeof p[0] !== "string" || !isInt(p[1], 0) || !isInt(p[2], 1) || !isDecimal(p[3]) || !isDecimal(p[4])) {
        bad("partitions entry is malformed");
      }
      if (p.length === 6 && !isBrokerIds(p[5])) bad("partitions entry's isr is not a list of broker ids");
    }
    return { controllerLeader, alive: o.alive as number[], partitions: partitions as RuntimePartition[] };
  },
};

function moveList(v: unknown): LeaderMoveOrder[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 1_000_000) bad("moves must be a list");
  return v.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== "string" || e[0].length === 0 || e[0].length > 249 || !isInt(e[1], 0) || !isInt(e[2], 1)) {
      bad(`moves[${i}] is not [topic, partition, to]`);
    }
    return e as LeaderMoveOrder;
  });
}

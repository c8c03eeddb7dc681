import { allocUninitialized } from "./bytes.js";
import { DecodeError } from "./decode-error.js";
import { FlotillaError, type ErrorCodeName } from "./errors.js";
import { MsgpackWriter, type MsgpackReader } from "./msgpack.js";
import { topicNameProblem } from "./subjects.js";

/**
 * Field kinds for the client ↔ broker messages (internal; `requests.ts` is the public face).
 *
 * A message is declared once, as a `struct` of kinds; the same declaration encodes, decodes and
 * validates it, so the sender and the receiver check exactly the same rules. Each kind:
 * - `check(v, path)` validates a value before it is encoded (a buggy client fails at the sender);
 * - `write(o, v)` writes a checked value;
 * - `read(r, path)` reads and validates a value from untrusted bytes.
 * Failures are FlotillaErrors whose message starts with the field's path ("topics[2].partition:");
 * the MessagePack reader's DecodeErrors (truncation, wrong types) are turned into INVALID_REQUEST
 * by the message envelope in `requests.ts`. Lengths are bounded before anything is allocated (the
 * reader checks every header against the bytes that remain).
 *
 * On the wire a struct is a MessagePack array of its fields in declaration order (no names); an
 * absent optional field is nil. Wire order is the declaration order: never reorder fields, append.
 */

/** Bounds a receiver enforces (and a sender respects) on whole messages and produce batches. */
export interface RequestLimits {
  /** Largest encoded message, request or response. NATS's default max_payload is 1 MiB. */
  readonly maxMessageBytes: number;
  /** Largest record batch a produce request may carry. */
  readonly maxBatchBytes: number;
}

/** NATS refuses payloads above 64 MiB whatever its configuration. */
const NATS_MAX_PAYLOAD = 64 * 1024 * 1024;

export const DEFAULT_REQUEST_LIMITS: RequestLimits = Object.freeze({ maxMessageBytes: 1 << 20, maxBatchBytes: 1 << 20 });

/** Limits with defaults filled in; reports every bad value at once. */
export function requestLimits(overrides: Partial<RequestLimits> = {}): RequestLimits {
  const limits = { ...DEFAULT_REQUEST_LIMITS, ...overrides };
  const problems: string[] = [];
  for (const [name, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v < 1 || v > NATS_MAX_PAYLOAD) problems.push(`${name} ${v} is not an integer in [1, ${NATS_MAX_PAYLOAD}]`);
  }
  if (limits.maxBatchBytes > limits.maxMessageBytes) problems.push(`maxBatchBytes ${limits.maxBatchBytes} exceeds maxMessageBytes ${limits.maxMessageBytes}`);
  if (problems.length > 0) throw new RangeError(`request limits: ${problems.join("; ")}`);
  return Object.freeze(limits);
}

/** A writer plus the buffer it fills (null while measuring), for the int64 format MsgpackWriter lacks. */
export class Out {
  private readonly dv: DataView | null;

  constructor(
    readonly w: MsgpackWriter,
    private readonly buf: Uint8Array | null,
  ) {
    this.dv = buf && new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Always the 9-byte int64 format (0xd3): offsets have one fixed shape on the wire. */
  int64(v: bigint): void {
    if (this.dv) {
      this.buf![this.w.pos] = 0xd3;
      this.dv.setBigInt64(this.w.pos + 1, v);
    }
    this.w.pos += 9;
  }
}

/**
 * Measures `write`, refuses more than `max` bytes with `tooLarge` (before allocating), then writes
 * into a buffer of exactly that size.
 */
export function encodeBounded(write: (o: Out) => void, max: number, tooLarge: ErrorCodeName): Uint8Array {
  const measure = new Out(new MsgpackWriter(null), null);
  write(measure);
  const size = measure.w.pos;
  if (size > max) throw new FlotillaError(tooLarge, `encodes to ${size} bytes, at most ${max} allowed`);
  const buf = allocUninitialized(size);
  const o = new Out(new MsgpackWriter(buf), buf);
  write(o);
  if (o.w.pos !== size) throw new Error(`measured ${size} bytes but wrote ${o.w.pos}`);
  return buf;
}

export interface Kind<T> {
  /** Set on kinds made by `opt`: the field may be absent (nil on the wire). */
  readonly optional?: true;
  check(v: unknown, path: string, limits: RequestLimits): void;
  write(o: Out, v: T): void;
  read(r: MsgpackReader, path: string, limits: RequestLimits): T;
}

export type TypeOf<K> = K extends Kind<infer T> ? T : never;
type Fields = Record<string, Kind<any>>;
type OptionalKeys<F extends Fields> = { [P in keyof F]: F[P] extends { optional: true } ? P : never }[keyof F];
/** The object a struct of `F` reads and writes: optional kinds become optional properties. */
export type Infer<F extends Fields> = { [P in Exclude<keyof F, OptionalKeys<F>>]: TypeOf<F[P]> } & {
  [P in OptionalKeys<F>]?: TypeOf<F[P]>;
};

export function fail(code: ErrorCodeName, path: string, problem: string): never {
  throw new FlotillaError(code, `${path}: ${problem}`);
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number" || typeof v === "boolean" || v === undefined || v === null) return String(v);
  return Array.isArray(v) ? "an array" : v instanceof Uint8Array ? "bytes" : typeof v === "object" ? "an object" : `a ${typeof v}`;
}

const MAX_INT64 = 2n ** 63n - 1n;

/** An integer in [min, max] (max at most 2^53 - 1). */
export function uint(min: number, max: number): Kind<number> {
  const range = `[${min}, ${max}]`;
  return {
    check(v, path) {
      if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail("INVALID_REQUEST", path, `${show(v)} is not an integer in ${range}`);
    },
    write(o, v) {
      o.w.uint(v, "integer");
    },
    read(r, path) {
      const n = r.uint(path, max);
      if (n < min) fail("INVALID_REQUEST", path, `${n} is not an integer in ${range}`);
      return n;
    },
  };
}

/** MessagePack integer formats: tag → payload bytes (fixints have none). */
const INT_FORMATS = new Map([
  [0xcc, 1], [0xcd, 2], [0xce, 4], [0xcf, 8],
  [0xd0, 1], [0xd1, 2], [0xd2, 4], [0xd3, 8],
]);

/** Reads any MessagePack integer as a bigint. */
function readInteger(r: MsgpackReader, path: string): bigint {
  if (r.remaining < 1) throw new DecodeError(`${path}: truncated (needs 1 more bytes, 0 left)`);
  const t = r.bytes[r.pos];
  if (t < 0x80 || t >= 0xe0) {
    r.pos++;
    return BigInt(t < 0x80 ? t : t - 0x100);
  }
  const size = INT_FORMATS.get(t);
  if (size === undefined) throw new DecodeError(`${path}: expected an integer, found the MessagePack tag 0x${t.toString(16)}`);
  if (r.remaining < 1 + size) throw new DecodeError(`${path}: truncated (needs ${1 + size} more bytes, ${r.remaining} left)`);
  const dv = new DataView(r.bytes.buffer, r.bytes.byteOffset + r.pos + 1, size);
  r.pos += 1 + size;
  switch (t) {
    case 0xcc: return BigInt(dv.getUint8(0));
    case 0xcd: return BigInt(dv.getUint16(0));
    case 0xce: return BigInt(dv.getUint32(0));
    case 0xcf: return dv.getBigUint64(0);
    case 0xd0: return BigInt(dv.getInt8(0));
    case 0xd1: return BigInt(dv.getInt16(0));
    case 0xd2: return BigInt(dv.getInt32(0));
    default: return dv.getBigInt64(0);
  }
}

/**
 * A bigint in [0, 2^63 - 1]: offsets and producer ids. Written as int64 (0xd3) always; read from
 * any integer format, so other MessagePack writers interoperate.
 */
export const int64: Kind<bigint> = {
  check(v, path) {
    if (typeof v !== "bigint" || v < 0n || v > MAX_INT64) fail("INVALID_REQUEST", path, `${show(v)} is not a bigint in [0, 2^63 - 1]`);
  },
  write(o, v) {
    o.int64(v);
  },
  read(r, path) {
    const v = readInteger(r, path);
    if (v < 0n) fail("INVALID_REQUEST", path, `${v} is negative`);
    if (v > MAX_INT64) fail("INVALID_REQUEST", path, `${v} is above 2^63 - 1`);
    return v;
  },
};

export const bool: Kind<boolean> = {
  check(v, path) {
    if (typeof v !== "boolean") fail("INVALID_REQUEST", path, `${show(v)} is not a boolean`);
  },
  write(o, v) {
    o.w.bool(v);
  },
  read(r, path) {
    return r.bool(path);
  },
};

/**
 * A string of `minBytes` to `maxBytes` UTF-8 bytes, optionally matching `pattern`; `problem` adds a
 * rule of its own and `code` is the error for a string that breaks the rules.
 */
export function str(
  minBytes: number,
  maxBytes: number,
  opts: { pattern?: RegExp; problem?: (s: string) => string | undefined; code?: ErrorCodeName } = {},
): Kind<string> {
  const code = opts.code ?? "INVALID_REQUEST";
  const rules = (s: string, bytes: number, path: string): void => {
    if (bytes < minBytes) fail(code, path, minBytes === 1 ? "empty" : `${bytes} bytes, at least ${minBytes} needed`);
    if (bytes > maxBytes) fail(code, path, `${bytes} bytes, at most ${maxBytes} allowed`);
    if (opts.pattern && !opts.pattern.test(s)) fail(code, path, `${show(s)} does not match ${opts.pattern}`);
    const problem = opts.problem?.(s);
    if (problem) fail(code, path, problem);
  };
  return {
    check(v, path) {
      if (typeof v !== "string") fail("INVALID_REQUEST", path, `${show(v)} is not a string`);
      rules(v, Buffer.byteLength(v, "utf8"), path);
    },
    write(o, v) {
      o.w.str(v);
    },
    read(r, path, limits) {
      // Bounded by the message, which is within the limits; the rules then give their own error.
      const s = r.str(path, limits.maxMessageBytes);
      rules(s, Buffer.byteLength(s, "utf8"), path);
      return s;
    },
  };
}

/** A topic name by Kafka's rules (subjects.ts): a bad one is INVALID_TOPIC. */
export const topic = str(1, 249, { problem: topicNameProblem, code: "INVALID_TOPIC" });

/**
 * Bytes, decoded as a view into the input (never copied). `max` picks the limit; `tooLarge` is the
 * error past it; `min`/`tooSmall` likewise below.
 */
export function bytes(opts: {
  max: (limits: RequestLimits) => number;
  tooLarge?: ErrorCodeName;
  min?: number;
  tooSmall?: ErrorCodeName;
}): Kind<Uint8Array> {
  const min = opts.min ?? 0;
  const rules = (n: number, path: string, limits: RequestLimits): void => {
    const max = opts.max(limits);
    if (n > max) fail(opts.tooLarge ?? "INVALID_REQUEST", path, `${n} bytes, at most ${max} allowed`);
    if (n < min) fail(opts.tooSmall ?? "INVALID_REQUEST", path, `${n} bytes, at least ${min} needed`);
  };
  return {
    check(v, path, limits) {
      if (!(v instanceof Uint8Array)) fail("INVALID_REQUEST", path, `${show(v)} is not a Uint8Array`);
      rules(v.length, path, limits);
    },
    write(o, v) {
      o.w.bin(v);
    },
    read(r, path, limits) {
      // The reader bounds the length by the bytes present; the limit check gives its own error.
      const b = r.bin(path, Number.MAX_SAFE_INTEGER);
      rules(b.length, path, limits);
      return b;
    },
  };
}

/** One of a fixed list of strings, written as its index: append to the list, never reorder. */
export function oneOf<const V extends string>(values: readonly V[]): Kind<V> {
  const index = new Map<string, number>(values.map((v, i) => [v, i]));
  const expected = values.map((v) => JSON.stringify(v)).join(", ");
  return {
    check(v, path) {
      if (typeof v !== "string" || !index.has(v)) fail("INVALID_REQUEST", path, `${show(v)} is not one of ${expected}`);
    },
    write(o, v) {
      o.w.uint(index.get(v)!, "enum");
    },
    read(r, path) {
      const i = r.uint(path, 0xffff);
      if (i >= values.length) fail("INVALID_REQUEST", path, `unknown value ${i} (${values.length} are known: ${expected})`);
      return values[i];
    },
  };
}

/** The field may be absent: `undefined` in the object, nil on the wire. */
export function opt<T>(kind: Kind<T>): Kind<T> & { optional: true } {
  return {
    optional: true,
    check(v, path, limits) {
      if (v !== undefined) kind.check(v, path, limits);
    },
    write(o, v) {
      if (v === undefined) o.w.nil();
      else kind.write(o, v);
    },
    read(r, path, limits) {
      return (r.nil() ? undefined : kind.read(r, path, limits)) as T;
    },
  };
}

/** An array of `min` to `max` elements of `kind`. */
export function list<T>(kind: Kind<T>, max: number, min = 0): Kind<T[]> {
  const sizeProblem = (n: number): string | undefined =>
    n < min || n > max ? `${n} elements, expected ${min} to ${max}` : undefined;
  return {
    check(v, path, limits) {
      if (!Array.isArray(v)) fail("INVALID_REQUEST", path, `${show(v)} is not an array`);
      const problem = sizeProblem(v.length);
      if (problem) fail("INVALID_REQUEST", path, problem);
      for (let i = 0; i < v.length; i++) kind.check(v[i], `${path}[${i}]`, limits);
    },
    write(o, v) {
      o.w.array(v.length);
      for (const x of v) kind.write(o, x);
    },
    read(r, path, limits) {
      const n = r.array(path, min, max);
      const out: T[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = kind.read(r, `${path}[${i}]`, limits);
      return out;
    },
  };
}

export interface StructKind<F extends Fields> extends Kind<Infer<F>> {
  readonly fields: F;
  /** What spans fields; undefined when the value is fine. */
  rule?(v: Infer<F>): string | undefined;
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/**
 * An object with the given fields, as an array in declaration order. `rule` checks what spans
 * fields (both sides run it), returning the problem or undefined.
 */
export function struct<F extends Fields>(fields: F, rule?: (v: Infer<F>) => string | undefined): StructKind<F> {
  const keys = Object.keys(fields);
  const kinds = keys.map((k) => fields[k]);
  return {
    fields,
    rule,
    check(v, path, limits) {
      if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
        fail("INVALID_REQUEST", path || "message", `${show(v)} is not an object`);
      }
      const o = v as Record<string, unknown>;
      for (let i = 0; i < keys.length; i++) {
        const x = o[keys[i]];
        if (x === undefined && !kinds[i].optional) fail("INVALID_REQUEST", join(path, keys[i]), "missing");
        kinds[i].check(x, join(path, keys[i]), limits);
      }
      const problem = rule?.(v as Infer<F>);
      if (problem) fail("INVALID_REQUEST", path || "message", problem);
    },
    write(o, v) {
      o.w.array(keys.length);
      const obj = v as Record<string, unknown>;
      for (let i = 0; i < keys.length; i++) kinds[i].write(o, obj[keys[i]]);
    },
    read(r, path, limits) {
      r.array(path || "message", keys.length, keys.length);
      const out: Record<string, unknown> = {};
      for (let i = 0; i < keys.length; i++) {
        const x = kinds[i].read(r, join(path, keys[i]), limits);
        if (x !== undefined) out[keys[i]] = x;
      }
      const problem = rule?.(out as Infer<F>);
      if (problem) fail("INVALID_REQUEST", path || "message", problem);
      return out as Infer<F>;
    },
  };
}

/**
 * A string → string map (topic configs), as an array of [key, value] pairs. Keys are unique and
 * follow `key`; the decoded object has only own data properties ("__proto__" is a plain key).
 */
export function stringMap(key: Kind<string>, value: Kind<string>, max: number): Kind<Record<string, string>> {
  const pairs = list(struct({ key, value }), max);
  const duplicate = (keys: string[]): string | undefined => {
    const seen = new Set<string>();
    for (const k of keys) {
      if (seen.has(k)) return `key ${show(k)} appears twice`;
      seen.add(k);
    }
    return undefined;
  };
  const toPairs = (m: Record<string, string>) => Object.entries(m).map(([key, value]) => ({ key, value }));
  return {
    check(v, path, limits) {
      const proto = typeof v === "object" && v !== null ? Object.getPrototypeOf(v) : undefined;
      if (proto !== Object.prototype && proto !== null) fail("INVALID_REQUEST", path, `${show(v)} is not a plain object`);
      pairs.check(toPairs(v as Record<string, string>), path, limits);
    },
    write(o, v) {
      pairs.write(o, toPairs(v));
    },
    read(r, path, limits) {
      const entries = pairs.read(r, path, limits);
      const problem = duplicate(entries.map((e) => e.key));
      if (problem) fail("INVALID_REQUEST", path, problem);
      return Object.fromEntries(entries.map((e) => [e.key, e.value]));
    },
  };
}

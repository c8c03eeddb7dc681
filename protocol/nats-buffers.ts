/**
 * How nats.js moves our large messages, made cheaper: a small runtime patch of two nats.js 2.29.3
 * internals, used by brokers and clients alike (it lives here because `protocol/` is the one folder
 * both may import). nats.js has no option for either.
 *
 * Receive. The socket hands over reads of at most 64 KiB. When a message's payload spans reads,
 * nats.js's parser gathers it in a `DenoBuffer` that grows by doubling: a 900 KiB Raft append
 * allocated ~2.7 MB and copied its bytes about twice, an 8 MiB fetch response 16+ MiB, and that
 * external memory drove most of the full GCs in every broker profile. The patch gathers such a
 * payload in ONE buffer of exactly its size (`ma.size`, known once the MSG line is parsed), not
 * zero-filled, into which each read is copied once. Only the payload's first read still goes
 * through nats.js's own (≤ 64 KiB) copy.
 *
 * Send. `publish` queues the protocol line, the payload and CRLF; the flush then copied them all
 * into one fresh zero-filled buffer (`DataBuffer.pack`) before `socket.write`. The patch writes
 * payloads of `DIRECT_WRITE_BYTES` or more as they are, corked with the rest (one writev, no copy),
 * and copies only runs of small buffers together. Consequence for every publisher: a large payload
 * is read by the socket after `publish` returns, until the kernel has taken it, so its memory must
 * not be modified or reused before a `flush()` (a PING/PONG round trip, which follows every byte
 * written before it) has resolved. Our publishers encode each message into fresh memory; the one
 * pool of reused buffers (the broker's fetch responses) already waits for `flush()`.
 *
 * Guards: the patch applies only to the exact nats version and function sources it was written
 * against (checked by fingerprint); otherwise it changes nothing, warns once (`process.emitWarning`)
 * and nats.js keeps its own behaviour. package.json pins that nats version.
 */
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { allocUninitialized } from "./bytes.js";

/** The nats.js release these internals were read from. */
export const PATCHED_NATS_VERSION = "2.29.3";

/** Payloads at least this large are written by reference, smaller buffers are copied together. */
export const DIRECT_WRITE_BYTES = 16 * 1024;

/** sha256 of each patched function's source in PATCHED_NATS_VERSION (see `fingerprint`). */
const FINGERPRINTS = {
  parse: "32a070750b58db9077110df153a9a0b6e58ef59f09a8e71720d81792590d1b34",
  flushPending: "e95765f26edfcd1deb5d4ac8400eb88855797967df1c035da1113bf748793790",
} as const;

export type NatsBufferPatchStatus = { applied: true } | { applied: false; reason: string };

/** The parser's message argument: what nats.js knows about a MSG/HMSG once its line is parsed. */
interface MsgArg {
  size: number;
}

/** What this module touches of nats.js's `Parser` (parser.js). */
interface NatsParser {
  state: number;
  ma: MsgArg;
  argBuf: unknown;
  msgBuf: { readonly length: number; bytes(options: { copy: boolean }): Uint8Array } | PayloadBuffer | undefined;
  dispatcher: { push(event: { kind: number; msg: MsgArg; data: Uint8Array }): void };
}

/** What this module touches of nats.js's `ProtocolHandler` (protocol.js) and its transport. */
interface NatsProtocol {
  infoReceived: boolean;
  connected: boolean;
  outbound: { buffers: Uint8Array[]; byteLength: number; reset(): void };
  transport: { send(frame: Uint8Array): void; socket?: { cork(): void; uncork(): void } };
}

interface NatsInternals {
  version: string;
  Parser: { prototype: { parse(this: NatsParser, buf: Uint8Array): void } };
  State: Record<string, number>;
  Kind: Record<string, number>;
  ProtocolHandler: { prototype: { flushPending(this: NatsProtocol): void } };
  NodeTransport: abstract new () => object;
}

/**
 * A payload that spans socket reads, gathered into one buffer of exactly its size.
 * Invariant: `filled <= bytes.length`; the message is complete when they are equal.
 */
export class PayloadBuffer {
  readonly bytes: Uint8Array;
  private filled: number;

  constructor(first: Uint8Array, size: number) {
    this.bytes = allocUninitialized(size);
    this.bytes.set(first);
    this.filled = first.length;
  }

  /** Copies the part of `chunk` that belongs to the payload; returns how many bytes that was. */
  take(chunk: Uint8Array): number {
    const n = Math.min(chunk.length, this.bytes.length - this.filled);
    this.bytes.set(n === chunk.length ? chunk : chunk.subarray(0, n), this.filled);
    this.filled += n;
    return n;
  }

  get complete(): boolean {
    return this.filled === this.bytes.length;
  }
}

let status: NatsBufferPatchStatus | undefined;

/** Applies the patch once per process (later calls return the first outcome). */
export function installNatsBufferPatch(): NatsBufferPatchStatus {
  status ??= install();
  if (!status.applied) warnOnce(status.reason);
  return status;
}

function install(): NatsBufferPatchStatus {
  let nats: NatsInternals;
  try {
    nats = loadInternals();
  } catch (e) {
    return { applied: false, reason: `nats.js internals not found (${(e as Error).message})` };
  }
  if (nats.version !== PATCHED_NATS_VERSION) return { applied: false, reason: `nats ${nats.version} installed, the patch is for ${PATCHED_NATS_VERSION}` };
  const parse = nats.Parser.prototype.parse;
  const flushPending = nats.ProtocolHandler.prototype.flushPending;
  for (const [name, fn] of [["parse", parse], ["flushPending", flushPending]] as const) {
    if (typeof fn !== "function" || fingerprint(fn) !== FINGERPRINTS[name]) return { applied: false, reason: `nats.js's ${name} is not the one the patch was written for` };
  }
  const { MSG_PAYLOAD, MSG_END } = nats.State;
  const { MSG } = nats.Kind;
  if (MSG_PAYLOAD === undefined || MSG_END === undefined || MSG === undefined) return { applied: false, reason: "nats.js's parser states are not the expected ones" };

  nats.Parser.prototype.parse = function (this: NatsParser, buf: Uint8Array): void {
    const pending = this.msgBuf;
    if (this.state === MSG_PAYLOAD && pending instanceof PayloadBuffer) {
      const taken = pending.take(buf);
      if (!pending.complete) return;
      this.dispatcher.push({ kind: MSG, msg: this.ma, data: pending.bytes });
      this.argBuf = undefined;
      this.msgBuf = undefined;
      this.state = MSG_END;
      buf = buf.subarray(taken);
    }
    parse.call(this, buf);
    // nats.js ends a read inside a payload with its rest in a fresh DenoBuffer: swap in one of the
    // payload's full size (a payload that is already complete is left to nats.js's next call).
    const started = this.msgBuf;
    if (this.state === MSG_PAYLOAD && started !== undefined && !(started instanceof PayloadBuffer) && started.length < this.ma.size) {
      this.msgBuf = new PayloadBuffer(started.bytes({ copy: false }), this.ma.size);
    }
  };

  nats.ProtocolHandler.prototype.flushPending = function (this: NatsProtocol): void {
    const socket = this.transport.socket;
    if (!(this.transport instanceof nats.NodeTransport) || socket === undefined) return flushPending.call(this);
    if (!this.infoReceived || !this.connected || this.outbound.byteLength === 0) return;
    const frames = writeFrames(this.outbound.buffers);
    this.outbound.reset();
    socket.cork();
    for (const frame of frames) this.transport.send(frame);
    socket.uncork();
  };
  return { applied: true };
}

/** The queued buffers as frames to write: large ones as they are, each run of small ones copied into one. */
export function writeFrames(buffers: readonly Uint8Array[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const endRun = (): void => {
    if (run.length > 0) frames.push(run.length === 1 ? run[0] : Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const b of buffers) {
    if (b.length >= DIRECT_WRITE_BYTES) {
      endRun();
      frames.push(b);
    } else {
      run.push(b);
      runBytes += b.length;
    }
  }
  endRun();
  return frames;
}

function loadInternals(): NatsInternals {
  const require = createRequire(import.meta.url);
  const parser = require("nats/lib/nats-base-client/parser.js") as Pick<NatsInternals, "Parser" | "State" | "Kind">;
  const protocol = require("nats/lib/nats-base-client/protocol.js") as Pick<NatsInternals, "ProtocolHandler">;
  const transport = require("nats/lib/src/node_transport.js") as Pick<NatsInternals, "NodeTransport">;
  const { version } = require("nats/package.json") as { version: string };
  return { version, ...parser, ...protocol, ...transport };
}

function fingerprint(fn: (...args: never[]) => unknown): string {
  return createHash("sha256").update(fn.toString()).digest("hex");
}

let warned = false;
function warnOnce(reason: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`flotilla: nats.js buffer patch not applied: ${reason}; messages still flow, with nats.js's own copies`, { code: "FLOTILLA_NATS_PATCH" });
}

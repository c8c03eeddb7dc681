/**
 * Helpers for the transport tests: Raft messages to send, and a collector that records what a
 * transport received and waits for it.
 */
import { pino } from "pino";
import type { Logger } from "pino";
import { EntryType, MessageType, emptyMessage, type Message } from "../protocol/raft.js";
import type { BrokerId, Transport } from "../broker/transport/transport.js";

export const silentLogger: Logger = pino({ level: "silent" });

/** A heartbeat of group `group-<n>`: the message idle groups send most. */
export function heartbeat(from: BrokerId, to: BrokerId, n: number): Message {
  return { ...emptyMessage(MessageType.Heartbeat, `group-${n}`, from, to, 7), commit: n };
}

/** An append carrying one entry of `bytes` bytes (filled with `n`'s low byte, so copies are checkable). */
export function append(from: BrokerId, to: BrokerId, n: number, bytes: number): Message {
  return {
    ...emptyMessage(MessageType.App, "orders-0", from, to, 3),
    index: n,
    logTerm: 3,
    commit: n,
    entries: [{ term: 3, index: n + 1, type: EntryType.Normal, data: new Uint8Array(bytes).fill(n & 0xff) }],
  };
}

/** A message using every field the codec knows, for round trips. */
export function richMessages(from: BrokerId, to: BrokerId): Message[] {
  return [
    {
      ...emptyMessage(MessageType.App, "topic.with.dots-17", from, to, 12),
      logTerm: 11,
      index: 41,
      commit: 40,
      entries: [
        { term: 11, index: 42, type: EntryType.Normal, data: Uint8Array.of(1, 2, 3) },
        { term: 12, index: 43, type: EntryType.ConfChange, data: new Uint8Array(300).fill(9) },
        { term: 12, index: 44, type: EntryType.Normal, data: new Uint8Array(0) },
      ],
    },
    { ...emptyMessage(MessageType.AppResp, "g", from, to, 12), reject: true, rejectHint: 2 ** 40, logTerm: 5, index: 70000 },
    { ...emptyMessage(MessageType.Heartbeat, "ü-gruppe", from, to, 12), commit: 99, context: Uint8Array.of(7, 7) },
    {
      ...emptyMessage(MessageType.Snap, "snap-group", from, to, 12),
      index: 500,
      snapshot: {
        meta: { index: 500, term: 10, confState: { voters: [1, 2, 3], votersOutgoing: [], learners: [4], learnersNext: [], autoLeave: false } },
        offset: 1024,
        total: 4096,
        data: new Uint8Array(1000).fill(5),
      },
    },
  ];
}

/**
 * A comparable form of messages: decoded byte fields are views (on NATS, Buffers) where the sent
 * ones are plain Uint8Arrays, so bytes become number arrays and keys are sorted.
 */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

export interface ReceivedBatch {
  from: BrokerId;
  messages: Message[];
}

/** Records every batch a transport hands its handler. */
export class Collector {
  readonly batches: ReceivedBatch[] = [];

  constructor(transport: Transport) {
    transport.onMessages((from, messages) => this.batches.push({ from, messages }));
  }

  get messages(): Message[] {
    return this.batches.flatMap((b) => b.messages);
  }

  /** Resolves once at least `count` messages arrived; rejects after `timeoutMs`. */
  async waitForMessages(count: number, timeoutMs = 3000): Promise<Message[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      if (Date.now() > deadline) throw new Error(`timed out with ${this.messages.length} of ${count} messages received`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return this.messages;
  }
}

/** Waits long enough for anything in flight to arrive, to check that nothing did. */
export function settle(ms = 100): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

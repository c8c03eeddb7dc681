/**
 * Broker ↔ broker Raft traffic.
 *
 * A `Transport` carries Raft messages of every group hosted on this broker to the broker hosting
 * the other replica. Delivery is best effort, as Raft expects: a message may be lost (a full
 * buffer, a disconnect, a fault injected by a test), and the Raft core retries by itself. Messages
 * of one group to one destination are delivered in the order they were sent unless a fault
 * reorders them (messages of different groups may overtake each other).
 *
 * Coalescing is the point of the layer: everything queued for one destination within one flush
 * (the current microtask, or sooner once the queue passes a size threshold) goes out as ONE wire
 * message, encoded with `encodeRaftBatch`. Heartbeats of thousands of idle groups to one peer
 * thus cost one wire message per flush, not thousands.
 *
 * Implementations: `NatsTransport` (production) and `InProcessTransport` (embedded mode and fast
 * tests); `FaultyTransport` wraps either with drops, delays, duplicates and partitions.
 */
import type { Message } from "../../protocol/raft.js";

/** A broker's id: a positive integer, the same as its Raft node id in every group it hosts. */
export type BrokerId = number;

/**
 * Receives the Raft messages of one wire batch, all sent by `from`. Called asynchronously, never
 * from inside `send`. The messages' byte fields are views into the received payload: copy what
 * outlives the call for long (see `decodeRaftBatch`).
 */
export type RaftMessagesHandler = (from: BrokerId, messages: Message[]) => void;

export interface Transport {
  /** The broker this transport sends from and receives for. */
  readonly localId: BrokerId;
  /**
   * The largest encoded batch this transport puts on the wire (the NATS max payload less room for
   * headers). A single Raft message larger than this cannot be sent and is dropped (counted in
   * `oversizedDropped`): the Raft driver must size appends and snapshot chunks below it.
   */
  readonly maxBatchBytes: number;
  /** Queues `message` for broker `to`. Fire-and-forget: never throws for network reasons. */
  send(to: BrokerId, message: Message): void;
  /** Sets the handler for incoming batches (replacing any earlier one). Batches arriving while none is set are dropped. */
  onMessages(handler: RaftMessagesHandler): void;
  /** Sends everything queued now, and resolves once it has left this process (NATS: the server has it). */
  flush(): Promise<void>;
  /** Flushes, then stops sending and receiving. Idempotent. */
  close(): Promise<void>;
  /** A snapshot of the counters, for metrics and tests. */
  stats(): TransportStats;
}

/** Counters since the transport was created. "Messages" are Raft messages, "batches" wire messages. */
export interface TransportStats {
  messagesSent: number;
  batchesSent: number;
  bytesSent: number;
  messagesReceived: number;
  batchesReceived: number;
  bytesReceived: number;
  /** Incoming payloads that did not decode (garbage on the subject): dropped, never delivered. */
  decodeFailures: number;
  /** Outgoing Raft messages that alone exceed `maxBatchBytes`: dropped. */
  oversizedDropped: number;
  /** Outgoing Raft messages the codec refuses (a bug upstream): dropped, the rest of their batch sent. */
  unencodableDropped: number;
  /** Outgoing batches the wire refused (connection closed, payload rejected): dropped. */
  publishFailures: number;
}

export function emptyStats(): TransportStats {
  return {
    messagesSent: 0,
    batchesSent: 0,
    bytesSent: 0,
    messagesReceived: 0,
    batchesReceived: 0,
    bytesReceived: 0,
    decodeFailures: 0,
    oversizedDropped: 0,
    unencodableDropped: 0,
    publishFailures: 0,
  };
}

export function checkBrokerId(id: BrokerId, what: string): void {
  if (!Number.isSafeInteger(id) || id < 1) throw new RangeError(`${what}: broker id ${id} is not a positive integer`);
}

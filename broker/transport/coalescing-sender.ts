/**
 * The sending half shared by every transport: Raft messages queued for other brokers, flushed as
 * few encoded batches as possible.
 *
 * The path of one message: `enqueue` measures it (without encoding) and queues it; the first
 * message since the last flush schedules a flush in a microtask, so everything the Raft drivers
 * send in the current turn rides in one flush. A message that would take the queue past the inline
 * threshold first sends what is queued, so a turn that sends a lot does not hold it all, unless it
 * shares entries with the queue (the same append to another follower).
 *
 * A flush cuts the queue into batches: one per destination, except that appends carrying the same
 * entries to several brokers (a leader replicating one proposal to its followers) go out as ONE
 * multicast batch addressed to all of them, in which the entries' bytes appear once (the codec
 * writes repeated entry data as back-references) and NATS does the fan-out. Each receiver takes the
 * messages addressed to it. The leader thus writes a proposal once instead of once per follower.
 *
 * Order per destination and group is the order of `enqueue` (Raft needs no order across groups): a
 * destination's messages of one group may be spread over its own batch and multicast batches, so
 * whenever the next goes to another batch than the previous one, that previous batch is published
 * first. No batch outgrows the wire's payload limit.
 */
import type { Logger } from "pino";
import { RAFT_LIMITS, encodeRaftBatch } from "../../protocol/raft-codec.js";
import { MessageType, type Message } from "../../protocol/raft.js";
import { BATCH_ENVELOPE_MAX, encodedMessageSize, sharedEntrySavings } from "./batch-size.js";
import { ThrottledWarning } from "./throttled-warning.js";
import type { BrokerId, TransportStats } from "./transport.js";

/**
 * Puts one encoded batch on the wire, for one broker or (a multicast batch) for 2 to
 * `maxMulticast` brokers in ascending order. May throw (closed connection): the batch is then dropped.
 */
export type PublishBatch = (to: readonly BrokerId[], payload: Uint8Array) => void;

export interface CoalescingSenderOptions {
  /** Largest encoded batch; a batch is cut before it would pass this. */
  maxBatchBytes: number;
  /** What is queued is sent inline before it would pass this many bytes (capped at maxBatchBytes × 4). */
  inlineFlushBytes: number;
  /** Most brokers one multicast batch is for; below 2, every batch is for one broker. */
  maxMulticast: number;
  publish: PublishBatch;
  /** Counters to update (owned by the transport). */
  stats: TransportStats;
  logger: Logger;
}

interface Queued {
  to: BrokerId;
  message: Message;
  /** encodedMessageSize(message) */
  size: number;
  /** The brokers of the multicast batch it goes in (ascending), set by the flush; else its own batch. */
  multicast?: BrokerId[];
}

/** A batch being filled by a flush. Invariant: `bytes` bounds the encoding of `messages`. */
interface OpenBatch {
  to: BrokerId[];
  messages: Message[];
  bytes: number;
  /** Entry data already in the batch (written once, referred to after). */
  data: Set<Uint8Array>;
  sent: boolean;
}

export class CoalescingSender {
  private queue: Queued[] = [];
  /** Bytes the queue would take on the wire, entry data counted once. */
  private queuedBytes = 0;
  private queuedData = new Set<Uint8Array>();
  private flushScheduled = false;
  private closed = false;
  private readonly maxBatchBytes: number;
  private readonly inlineFlushBytes: number;
  private readonly oversized: ThrottledWarning;
  private readonly unencodable: ThrottledWarning;
  private readonly publishFailed: ThrottledWarning;

  constructor(private readonly options: CoalescingSenderOptions) {
    if (!(Number.isSafeInteger(options.maxBatchBytes) && options.maxBatchBytes > BATCH_ENVELOPE_MAX)) {
      throw new RangeError(`maxBatchBytes must be an integer above ${BATCH_ENVELOPE_MAX}, got ${options.maxBatchBytes}`);
    }
    if (!(options.inlineFlushBytes > 0)) throw new RangeError(`inlineFlushBytes must be positive, got ${options.inlineFlushBytes}`);
    this.maxBatchBytes = options.maxBatchBytes;
    this.inlineFlushBytes = Math.min(options.inlineFlushBytes, options.maxBatchBytes * 4);
    this.oversized = new ThrottledWarning(options.logger, "raft message larger than the wire allows: dropped");
    this.unencodable = new ThrottledWarning(options.logger, "raft message the codec refuses: dropped");
    this.publishFailed = new ThrottledWarning(options.logger, "raft batch could not be published: dropped");
  }

  enqueue(to: BrokerId, message: Message): void {
    if (this.closed) return;
    const size = encodedMessageSize(message);
    if (size + BATCH_ENVELOPE_MAX > this.maxBatchBytes) {
      this.options.stats.oversizedDropped++;
      this.oversized.warn({ to, group: message.group, type: message.type, bytes: size, maxBatchBytes: this.maxBatchBytes });
      return;
    }
    // A message sharing entries with the queue stays with them, so that they go out once.
    const shares = message.entries.some((e) => this.queuedData.has(e.data));
    if (!shares && this.queue.length > 0 && this.queuedBytes + size > this.inlineFlushBytes) this.flush();
    this.queue.push({ to, message, size });
    this.queuedBytes += shares ? size - sharedEntrySavings(message, this.queuedData) : size;
    for (const e of message.entries) this.queuedData.add(e.data);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        if (this.flushScheduled) this.flush();
      });
    }
  }

  /** Sends every queued message now. */
  flush(): void {
    this.flushScheduled = false;
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    this.queuedBytes = 0;
    this.queuedData = new Set();
    if (this.options.maxMulticast >= 2) markMulticast(queue, this.options.maxMulticast);
    this.sendInOrder(queue);
  }

  /** Sends what is queued, then refuses further messages. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /** Cuts the queue into batches, publishing a batch early when a destination's order asks for it (see the top). */
  private sendInOrder(queue: Queued[]): void {
    const open = new Map<string, OpenBatch>();
    /** The batch of the last message to each destination and group ("<to> <group>"). */
    const lastBatchOf = new Map<string, OpenBatch>();
    const publish = (b: OpenBatch): void => {
      b.sent = true;
      open.delete(b.to.join("."));
      this.sendBatch(b.to, b.messages);
    };
    for (const q of queue) {
      const to = q.multicast ?? [q.to];
      const key = to.join(".");
      let batch = open.get(key);
      const order = `${q.to} ${q.message.group}`;
      const previous = lastBatchOf.get(order);
      if (previous && previous !== batch && !previous.sent) publish(previous);
      const bytes = q.size - (batch ? sharedEntrySavings(q.message, batch.data) : 0);
      if (batch && (batch.bytes + bytes + BATCH_ENVELOPE_MAX > this.maxBatchBytes || batch.messages.length >= RAFT_LIMITS.messagesPerBatch)) {
        publish(batch);
        batch = undefined;
      }
      if (!batch) {
        batch = { to, messages: [], bytes: 0, data: new Set(), sent: false };
        open.set(key, batch);
      }
      batch.messages.push(q.message);
      batch.bytes += batch.messages.length === 1 ? q.size : bytes;
      for (const e of q.message.entries) batch.data.add(e.data);
      lastBatchOf.set(order, batch);
    }
    // No destination has messages of one group in two batches still open: any order keeps theirs.
    for (const b of [...open.values()]) publish(b);
  }

  private sendBatch(to: readonly BrokerId[], messages: Message[]): void {
    let payload: Uint8Array;
    try {
      payload = encodeRaftBatch(messages);
    } catch (e) {
      this.sendEncodable(to, messages, e);
      return;
    }
    if (payload.length > this.maxBatchBytes) {
      // The size estimate fell short (the codec changed under it): halve until each part fits.
      if (messages.length === 1) {
        this.options.stats.oversizedDropped++;
        this.oversized.warn({ to, group: messages[0].group, type: messages[0].type, bytes: payload.length, maxBatchBytes: this.maxBatchBytes });
        return;
      }
      const half = messages.length >>> 1;
      this.sendBatch(to, messages.slice(0, half));
      this.sendBatch(to, messages.slice(half));
      return;
    }
    try {
      this.options.publish(to, payload);
    } catch (e) {
      this.options.stats.publishFailures++;
      this.publishFailed.warn({ to, err: e, messages: messages.length, bytes: payload.length });
      return;
    }
    const stats = this.options.stats;
    stats.batchesSent++;
    stats.messagesSent += messages.length;
    stats.bytesSent += payload.length;
  }

  /**
   * A batch the codec refused holds a message no peer could decode (a bug upstream). Rather than
   * lose every group's traffic with it, drop only the messages that do not encode alone.
   */
  private sendEncodable(to: readonly BrokerId[], messages: Message[], batchError: unknown): void {
    const good = messages.filter((m) => {
      try {
        encodeRaftBatch([m]);
        return true;
      } catch (e) {
        this.options.stats.unencodableDropped++;
        this.unencodable.warn({ to, group: m.group, type: m.type, err: e });
        return false;
      }
    });
    if (good.length === messages.length) throw batchError; // not a message's fault: a bug here
    if (good.length > 0) this.sendBatch(to, good);
  }
}

/**
 * Marks the appends that carry the same entries (the same data objects, in the same order) to
 * 2 to `maxMulticast` distinct brokers: each of them goes in the multicast batch for those brokers.
 */
function markMulticast(queue: Queued[], maxMulticast: number): void {
  const byFirstEntry = new Map<Uint8Array, Queued[]>();
  for (const q of queue) {
    if (q.message.type !== MessageType.App || q.message.entries.length === 0) continue;
    const first = q.message.entries[0].data;
    const same = byFirstEntry.get(first);
    if (same) same.push(q);
    else byFirstEntry.set(first, [q]);
  }
  for (const candidates of byFirstEntry.values()) {
    if (candidates.length < 2) continue;
    for (const q of candidates) {
      if (q.multicast) continue;
      const group = candidates.filter((o) => !o.multicast && sameEntries(o.message, q.message));
      const to = [...new Set(group.map((o) => o.to))].sort((a, b) => a - b);
      if (to.length < 2 || to.length > maxMulticast) continue;
      for (const o of group) o.multicast = to;
    }
  }
}

function sameEntries(a: Message, b: Message): boolean {
  if (a.group !== b.group || a.entries.length !== b.entries.length) return false;
  for (let i = 0; i < a.entries.length; i++) if (a.entries[i].data !== b.entries[i].data) return false;
  return true;
}

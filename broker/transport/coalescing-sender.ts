/**
 * The sending half shared by every transport: per-destination queues of Raft messages, flushed as
 * one encoded batch per destination.
 *
 * The path of one message: `enqueue` measures it (without encoding), appends it to its
 * destination's queue and, for the first message since the last flush, schedules a flush in a
 * microtask, so everything the Raft drivers send in the current turn rides in one batch. A queue
 * that would grow past the batch limit is sent first, inline, and a queue past the inline
 * threshold is sent at once, so big appends do not wait and no batch outgrows the wire's payload
 * limit. Order per destination is the order of `enqueue`.
 */
import type { Logger } from "pino";
import { RAFT_LIMITS, encodeRaftBatch } from "../../protocol/raft-codec.js";
import type { Message } from "../../protocol/raft.js";
import { BATCH_ENVELOPE_MAX, encodedMessageSize } from "./batch-size.js";
import { ThrottledWarning } from "./throttled-warning.js";
import type { BrokerId, TransportStats } from "./transport.js";

/** Puts one encoded batch on the wire. May throw (closed connection): the batch is then dropped. */
export type PublishBatch = (to: BrokerId, payload: Uint8Array) => void;

export interface CoalescingSenderOptions {
  /** Largest encoded batch; a queue is cut before it would pass this. */
  maxBatchBytes: number;
  /** A destination's queue is sent inline once it holds this many bytes (capped at maxBatchBytes). */
  inlineFlushBytes: number;
  publish: PublishBatch;
  /** Counters to update (owned by the transport). */
  stats: TransportStats;
  logger: Logger;
}

/** Messages waiting for one destination. Invariant: `bytes` = Σ encodedMessageSize(messages). */
interface Queue {
  messages: Message[];
  bytes: number;
}

export class CoalescingSender {
  private readonly queues = new Map<BrokerId, Queue>();
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
    this.inlineFlushBytes = Math.min(options.inlineFlushBytes, options.maxBatchBytes);
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
    let queue = this.queues.get(to);
    if (!queue) {
      queue = { messages: [], bytes: 0 };
      this.queues.set(to, queue);
    }
    if (queue.bytes + size + BATCH_ENVELOPE_MAX > this.maxBatchBytes || queue.messages.length >= RAFT_LIMITS.messagesPerBatch) {
      this.sendQueue(to, queue);
    }
    queue.messages.push(message);
    queue.bytes += size;
    if (queue.bytes >= this.inlineFlushBytes) {
      this.sendQueue(to, queue);
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Sends every queued message now. */
  flush(): void {
    this.flushScheduled = false;
    for (const [to, queue] of this.queues) {
      if (queue.messages.length > 0) this.sendQueue(to, queue);
    }
  }

  /** Sends what is queued, then refuses further messages. */
  close(): void {
    this.flush();
    this.closed = true;
    this.queues.clear();
  }

  private sendQueue(to: BrokerId, queue: Queue): void {
    const messages = queue.messages;
    queue.messages = [];
    queue.bytes = 0;
    this.sendBatch(to, messages);
  }

  private sendBatch(to: BrokerId, messages: Message[]): void {
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
  private sendEncodable(to: BrokerId, messages: Message[], batchError: unknown): void {
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

/**
 * The receiving half shared by every transport: decodes one wire batch and hands its messages to
 * the handler. This is where untrusted bytes enter the broker, so nothing that arrives may throw
 * out of here: a payload that does not decode is counted, logged (throttled) and dropped.
 *
 * A multicast batch (see CoalescingSender) also holds messages for the other brokers it was sent
 * to; only those addressed to this broker are handed on.
 */
import type { Logger } from "pino";
import { DecodeError } from "../../protocol/decode-error.js";
import { decodeRaftBatch } from "../../protocol/raft-codec.js";
import type { Message } from "../../protocol/raft.js";
import { ThrottledWarning } from "./throttled-warning.js";
import type { BrokerId, RaftMessagesHandler, TransportStats } from "./transport.js";

export class BatchReceiver {
  private handler: RaftMessagesHandler | undefined;
  private readonly garbage: ThrottledWarning;

  constructor(
    private readonly localId: BrokerId,
    private readonly stats: TransportStats,
    private readonly logger: Logger,
  ) {
    this.garbage = new ThrottledWarning(logger, "raft batch does not decode: dropped");
  }

  setHandler(handler: RaftMessagesHandler): void {
    this.handler = handler;
  }

  /** `from` is undefined when the wire message did not say who sent it (not one of ours). */
  receive(from: BrokerId | undefined, payload: Uint8Array): void {
    this.stats.batchesReceived++;
    this.stats.bytesReceived += payload.length;
    if (from === undefined) {
      this.stats.decodeFailures++;
      this.garbage.warn({ bytes: payload.length, reason: "no sender broker id" });
      return;
    }
    let messages: Message[];
    try {
      messages = decodeRaftBatch(payload).filter((m) => m.to === this.localId);
    } catch (e) {
      this.stats.decodeFailures++;
      if (e instanceof DecodeError) this.garbage.warn({ from, bytes: payload.length, reason: e.message });
      else this.logger.error({ err: e, from, bytes: payload.length }, "raft batch decoder failed unexpectedly: dropped");
      return;
    }
    this.stats.messagesReceived += messages.length;
    if (!this.handler || messages.length === 0) return;
    try {
      this.handler(from, messages);
    } catch (e) {
      // The handler is the broker's own code; a throw is a bug, but one batch must not stop the stream.
      this.logger.error({ err: e, from, messages: messages.length }, "raft message handler threw");
    }
  }
}

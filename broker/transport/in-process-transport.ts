/**
 * N brokers in one process (the embedded mode and fast tests), connected through an
 * `InProcessNetwork` hub. Semantics match the NATS transport: messages are coalesced per
 * destination and flush, encoded with the Raft codec (so the embedded mode exercises the same
 * bytes as production), limited to the same payload size, and delivered asynchronously, in order
 * per pair of brokers. A batch for a broker that is not connected is lost, as on NATS. A multicast
 * batch is one payload handed to each of its brokers, as NATS fans it out.
 */
import type { Logger } from "pino";
import type { Message } from "../../protocol/raft.js";
import { MAX_RAFT_MULTICAST } from "../../protocol/subjects.js";
import { BatchReceiver } from "./batch-receiver.js";
import { CoalescingSender } from "./coalescing-sender.js";
import { checkBrokerId, emptyStats, type BrokerId, type RaftMessagesHandler, type Transport, type TransportStats } from "./transport.js";

/** NATS's default max payload, so batches cut in tests are cut as they would be in production. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** Queue size past which a destination is flushed inline instead of at the end of the microtask. */
export const DEFAULT_INLINE_FLUSH_BYTES = 256 * 1024;

export interface InProcessNetworkOptions {
  /** Largest batch in bytes (the in-process stand-in for NATS's max_payload). */
  maxPayload?: number;
  inlineFlushBytes?: number;
  logger: Logger;
}

export class InProcessNetwork {
  readonly maxPayload: number;
  readonly inlineFlushBytes: number;
  private readonly endpoints = new Map<BrokerId, InProcessTransport>();

  constructor(private readonly options: InProcessNetworkOptions) {
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.inlineFlushBytes = options.inlineFlushBytes ?? DEFAULT_INLINE_FLUSH_BYTES;
  }

  /** The transport of broker `localId`. One per broker id at a time. */
  connect(localId: BrokerId): InProcessTransport {
    checkBrokerId(localId, "InProcessNetwork.connect");
    if (this.endpoints.has(localId)) throw new Error(`InProcessNetwork: broker ${localId} is already connected`);
    const transport = new InProcessTransport(this, localId, this.options.logger.child({ component: "transport", broker: localId }));
    this.endpoints.set(localId, transport);
    return transport;
  }

  /**
   * Hands `payload` to broker `to` as if `from` had sent it, on a later turn of the event loop.
   * `setImmediate` keeps order per pair (its queue is FIFO) and, unlike a microtask, lets timers
   * and I/O run between deliveries, so two Raft loops answering each other cannot starve the process.
   * Tests use it directly to put arbitrary bytes on the wire.
   */
  deliver(from: BrokerId | undefined, to: BrokerId, payload: Uint8Array): void {
    setImmediate(() => this.endpoints.get(to)?.receive(from, payload));
  }

  /** @internal Called by a transport's close(). */
  disconnect(transport: InProcessTransport): void {
    if (this.endpoints.get(transport.localId) === transport) this.endpoints.delete(transport.localId);
  }
}

export class InProcessTransport implements Transport {
  readonly maxBatchBytes: number;
  private readonly counters = emptyStats();
  private readonly sender: CoalescingSender;
  private readonly receiver: BatchReceiver;
  private closed = false;

  /** Use `InProcessNetwork.connect`. */
  constructor(
    private readonly network: InProcessNetwork,
    readonly localId: BrokerId,
    logger: Logger,
  ) {
    this.maxBatchBytes = network.maxPayload;
    this.sender = new CoalescingSender({
      maxBatchBytes: this.maxBatchBytes,
      inlineFlushBytes: network.inlineFlushBytes,
      maxMulticast: MAX_RAFT_MULTICAST,
      publish: (to, payload) => {
        for (const id of to) network.deliver(localId, id, payload);
      },
      stats: this.counters,
      logger,
    });
    this.receiver = new BatchReceiver(localId, this.counters, logger);
  }

  send(to: BrokerId, message: Message): void {
    this.sender.enqueue(to, message);
  }

  onMessages(handler: RaftMessagesHandler): void {
    this.receiver.setHandler(handler);
  }

  /** Resolves after every batch sent so far has been delivered (or found its destination gone). */
  async flush(): Promise<void> {
    this.sender.flush();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.sender.close();
    this.closed = true;
    this.network.disconnect(this);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** @internal Called by the network. */
  receive(from: BrokerId | undefined, payload: Uint8Array): void {
    if (!this.closed) this.receiver.receive(from, payload);
  }
}

/**
 * Raft traffic over core NATS: the production transport, and the only broker file that imports
 * `nats` for broker traffic.
 *
 * Broker N subscribes to `flotilla.<cluster>.raft.N` (protocol/subjects.ts); a batch for N is one
 * fire-and-forget publish there, its sender's id in a header. N also subscribes to the multicast
 * subjects that name it (`raft.m.…`): a batch for several brokers is ONE publish, and NATS, not this
 * broker, writes it to each of them. Core NATS may drop messages (a slow
 * consumer, a reconnect), which Raft tolerates. Batches never exceed the max payload the server
 * advertised when we connected, less room for that header.
 *
 * The connection belongs to the caller (a broker may share it with client-request handling, or give
 * Raft a connection of its own so bulk client traffic cannot delay heartbeats); `close()` leaves it
 * open unless `ownsConnection` says the transport was given a connection of its own.
 */
import type { Logger } from "pino";
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type NatsError, type Subscription } from "nats";
import type { Message } from "../../protocol/raft.js";
import { NATS_HEADER_ALLOWANCE_BYTES } from "../../protocol/requests.js";
import { MAX_RAFT_MULTICAST, subjects } from "../../protocol/subjects.js";
import { BatchReceiver } from "./batch-receiver.js";
import { CoalescingSender } from "./coalescing-sender.js";
import { DEFAULT_INLINE_FLUSH_BYTES } from "./in-process-transport.js";
import { checkBrokerId, emptyStats, type BrokerId, type RaftMessagesHandler, type Transport, type TransportStats } from "./transport.js";

/** The header carrying the sending broker's id. */
export const FROM_HEADER = "Flotilla-From";
/**
 * Bytes of the payload limit kept for the header block ("NATS/1.0\r\nFlotilla-From: <id>\r\n\r\n"
 * is under 50 bytes); NATS counts headers against max_payload. Producers size batches by it too.
 */
const HEADER_ALLOWANCE = NATS_HEADER_ALLOWANCE_BYTES;
const BROKER_ID = /^[1-9][0-9]{0,15}$/;

export interface NatsTransportOptions {
  /** An open connection (as the `broker` user when the server uses ops' secure config). */
  connection: NatsConnection;
  cluster: string;
  localId: BrokerId;
  logger: Logger;
  /** Queue size past which a destination is flushed inline. Default 256 KiB. */
  inlineFlushBytes?: number;
  /** `close()` drains the connection too. Default false. */
  ownsConnection?: boolean;
}

export class NatsTransport implements Transport {
  readonly localId: BrokerId;
  readonly maxBatchBytes: number;
  private readonly connection: NatsConnection;
  private readonly ownsConnection: boolean;
  private readonly cluster: string;
  private readonly logger: Logger;
  private readonly counters = emptyStats();
  private readonly sender: CoalescingSender;
  private readonly receiver: BatchReceiver;
  private readonly subscriptions: Subscription[];
  /** Subjects by destination(s), built once: the hot path should not rebuild strings per flush. */
  private readonly subjectCache = new Map<string, string>();
  /** One header block for every publish: nats.js encodes it at publish time and keeps no reference. */
  private readonly fromHeader: MsgHdrs;
  private closed = false;

  constructor(options: NatsTransportOptions) {
    checkBrokerId(options.localId, "NatsTransport");
    const maxPayload = options.connection.info?.max_payload;
    if (maxPayload === undefined) throw new Error("NatsTransport: the connection has no server info yet (connect first)");
    this.localId = options.localId;
    this.connection = options.connection;
    this.ownsConnection = options.ownsConnection ?? false;
    this.cluster = options.cluster;
    this.logger = options.logger.child({ component: "transport", broker: options.localId });
    this.maxBatchBytes = maxPayload - HEADER_ALLOWANCE;
    this.fromHeader = natsHeaders();
    this.fromHeader.set(FROM_HEADER, String(options.localId));
    this.sender = new CoalescingSender({
      maxBatchBytes: this.maxBatchBytes,
      inlineFlushBytes: options.inlineFlushBytes ?? DEFAULT_INLINE_FLUSH_BYTES,
      maxMulticast: MAX_RAFT_MULTICAST,
      publish: (to, payload) => this.connection.publish(this.subjectOf(to), payload, { headers: this.fromHeader }),
      stats: this.counters,
      logger: this.logger,
    });
    this.receiver = new BatchReceiver(options.localId, this.counters, this.logger);
    const own = [subjects.raft(options.cluster, options.localId), ...subjects.raftMulticastInterest(options.cluster, options.localId)];
    this.subscriptions = own.map((subject) => this.connection.subscribe(subject, { callback: (err, msg) => this.onNatsMessage(err, msg) }));
  }

  send(to: BrokerId, message: Message): void {
    this.sender.enqueue(to, message);
  }

  onMessages(handler: RaftMessagesHandler): void {
    this.receiver.setHandler(handler);
  }

  /** Publishes what is queued and waits for the server's PONG, i.e. the server has every batch. */
  async flush(): Promise<void> {
    this.sender.flush();
    if (this.closed || this.connection.isClosed()) return;
    try {
      await this.connection.flush();
    } catch (e) {
      // Fire-and-forget: a connection that dies mid-flush is Raft's loss to recover, not an error here.
      this.logger.debug({ err: e }, "flush: connection failed");
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.sender.close();
    this.closed = true;
    if (this.connection.isClosed()) return;
    if (this.ownsConnection) await this.connection.drain().catch(() => this.connection.close());
    else for (const s of this.subscriptions) s.unsubscribe();
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  private subjectOf(to: readonly BrokerId[]): string {
    const key = to.join(".");
    let subject = this.subjectCache.get(key);
    if (subject === undefined) {
      subject = to.length === 1 ? subjects.raft(this.cluster, to[0]) : subjects.raftMulticast(this.cluster, to);
      this.subjectCache.set(key, subject);
    }
    return subject;
  }

  private onNatsMessage(err: NatsError | null, msg: Msg): void {
    if (err) {
      this.logger.warn({ err }, "raft subscription error");
      return;
    }
    if (this.closed) return;
    this.receiver.receive(senderOf(msg), msg.data);
  }
}

/** The sending broker named in the header, or undefined when absent or malformed (not one of ours). */
function senderOf(msg: Msg): BrokerId | undefined {
  let from: string;
  try {
    from = msg.headers?.get(FROM_HEADER) ?? "";
  } catch {
    return undefined; // nats.js parses headers lazily and throws on a malformed block
  }
  return BROKER_ID.test(from) ? Number(from) : undefined;
}

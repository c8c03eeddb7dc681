/**
 * Broker ↔ client and broker ↔ controller request traffic: the subjects clients send produce,
 * fetch, metadata and admin requests to, and the controller subject brokers call. (Raft traffic is
 * the `Transport`'s, not this.)
 *
 * The semantics are core NATS's, because the client and every retry path in the broker are written
 * against them: subjects are dot-separated tokens (`*` matches one, a final `>` the rest); a message
 * goes to every plain subscriber and to ONE member of each queue group; a request with nobody
 * subscribed fails at once with "no responders" (code "503"), one nobody answers in time fails with
 * code "TIMEOUT"; a message over `maxPayload` is refused with "MAX_PAYLOAD_EXCEEDED". Errors carry
 * the `code` nats.js gives them, so `natsRequestError` (server) and `fromNatsError` (client) map
 * both implementations the same way.
 *
 * Implementations: `NatsBus` (production) and `InProcessBus` (the embedded mode), by `InProcessBusHub`.
 */

/** A received message; `respond` answers its request (a no-op for a plain publish). */
export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  respond(data: Uint8Array): void;
}

export type BusHandler = (msg: BusMessage) => void;

export interface BusSubscription {
  unsubscribe(): void;
}

export interface MessageBus {
  /** The largest message the bus carries (NATS: the server's `max_payload`). */
  readonly maxPayload: number;
  /** Subscribes; with `queue`, this subscriber shares the subject's messages with the group's other members. */
  subscribe(subject: string, options: { queue?: string }, handler: BusHandler): BusSubscription;
  /** Request/reply; rejects with a `BusError`-shaped error (`code` "503", "TIMEOUT", …). */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /**
   * Fire-and-forget. `data` must stay unmodified until a later `flush()` resolves: over NATS a large
   * payload is written from it after publish returns (protocol/nats-buffers.ts). The same holds for
   * `respond`.
   */
  publish(subject: string, data: Uint8Array): void;
  /** Resolves once everything published so far has left this process. */
  flush(): Promise<void>;
  isClosed(): boolean;
  /** Stops every subscription and fails pending requests. Idempotent. */
  close(): Promise<void>;
}

/** The codes nats.js uses for the failures both implementations can produce. */
export const BusErrorCode = {
  noResponders: "503",
  timeout: "TIMEOUT",
  closed: "CONNECTION_CLOSED",
  maxPayload: "MAX_PAYLOAD_EXCEEDED",
} as const;
export type BusErrorCode = (typeof BusErrorCode)[keyof typeof BusErrorCode];

/** A bus failure, shaped like a NatsError (`code`, and the message text nats.js uses). */
export class BusError extends Error {
  constructor(
    readonly code: BusErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "BusError";
  }
}

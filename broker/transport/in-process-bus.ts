/**
 * The MessageBus of the embedded mode: every broker and client in one process, connected to one
 * `InProcessBusHub` that plays the NATS server's part with core NATS's routing rules (see
 * message-bus.ts): plain subscribers all get a message, each queue group one member at random,
 * a request nobody is subscribed to fails with "no responders" at once, an unanswered one times out.
 *
 * Delivery is asynchronous (`setImmediate`, FIFO, so order per publisher is kept and timers and I/O
 * run between deliveries, as in-process-transport.ts does for Raft). Payloads are copied on publish
 * (stricter than nats.js, which writes a large payload from the publisher's memory after publish
 * returns: see message-bus.ts).
 */
import { DEFAULT_MAX_PAYLOAD } from "./in-process-transport.js";
import { BusError, BusErrorCode, type BusHandler, type BusMessage, type BusSubscription, type MessageBus } from "./message-bus.js";

export interface InProcessBusHubOptions {
  /** Largest message in bytes (the in-process stand-in for NATS's max_payload). Default 1 MiB. */
  maxPayload?: number;
}

interface HubSubscription {
  readonly subject: string;
  /** The subject's tokens when it has wildcards; undefined for a literal subject. */
  readonly pattern: string[] | undefined;
  readonly queue: string | undefined;
  readonly handler: BusHandler;
  active: boolean;
}

export class InProcessBusHub {
  readonly maxPayload: number;
  /** Literal-subject subscriptions by subject; wildcard ones in a list matched token by token. */
  private readonly literal = new Map<string, Set<HubSubscription>>();
  private readonly wildcard = new Set<HubSubscription>();

  constructor(options: InProcessBusHubOptions = {}) {
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  }

  /** A new connection to the hub (one per broker, one per client). */
  connect(): InProcessBus {
    return new InProcessBus(this);
  }

  /** @internal */
  add(sub: HubSubscription): void {
    if (sub.pattern) {
      this.wildcard.add(sub);
      return;
    }
    let set = this.literal.get(sub.subject);
    if (!set) this.literal.set(sub.subject, (set = new Set()));
    set.add(sub);
  }

  /** @internal */
  remove(sub: HubSubscription): void {
    sub.active = false;
    if (sub.pattern) {
      this.wildcard.delete(sub);
      return;
    }
    const set = this.literal.get(sub.subject);
    set?.delete(sub);
    if (set?.size === 0) this.literal.delete(sub.subject);
  }

  /**
   * Routes one message: every plain subscriber, one random member per queue group. Returns how
   * many will receive it (0: no responders).
   */
  route(subject: string, data: Uint8Array, respond: (data: Uint8Array) => void): number {
    const plain: HubSubscription[] = [];
    const groups = new Map<string, HubSubscription[]>();
    const consider = (s: HubSubscription): void => {
      if (s.queue === undefined) plain.push(s);
      else groups.set(s.queue, [...(groups.get(s.queue) ?? []), s]);
    };
    for (const s of this.literal.get(subject) ?? []) consider(s);
    if (this.wildcard.size > 0) {
      const tokens = subject.split(".");
      for (const s of this.wildcard) if (matches(s.pattern!, tokens)) consider(s);
    }
    const chosen = [...plain, ...[...groups.values()].map((members) => members[Math.floor(Math.random() * members.length)]!)];
    const msg: BusMessage = { subject, data, respond };
    // A subscriber that unsubscribes before its turn loses the message, as it would on NATS.
    for (const s of chosen) setImmediate(() => s.active && s.handler(msg));
    return chosen.length;
  }
}

/** NATS subject matching: `*` is any one token, a final `>` one or more. */
function matches(pattern: string[], tokens: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === ">") return tokens.length > i;
    if (i >= tokens.length || (p !== "*" && p !== tokens[i])) return false;
  }
  return pattern.length === tokens.length;
}

interface PendingRequest {
  resolve(data: Uint8Array): void;
  reject(e: BusError): void;
}

/** One connection to an `InProcessBusHub`. Also fits the client's `Requester` (testing/). */
export class InProcessBus implements MessageBus {
  private readonly subs = new Set<HubSubscription>();
  private readonly pending = new Set<PendingRequest>();
  private closed = false;

  /** Use `InProcessBusHub.connect`. */
  constructor(private readonly hub: InProcessBusHub) {}

  get maxPayload(): number {
    return this.hub.maxPayload;
  }

  subscribe(subject: string, options: { queue?: string }, handler: BusHandler): BusSubscription {
    this.checkOpen();
    const tokens = subject.split(".");
    const sub: HubSubscription = {
      subject,
      pattern: tokens.some((t) => t === "*" || t === ">") ? tokens : undefined,
      queue: options.queue,
      handler,
      active: true,
    };
    this.hub.add(sub);
    this.subs.add(sub);
    return {
      unsubscribe: () => {
        this.hub.remove(sub);
        this.subs.delete(sub);
      },
    };
  }

  publish(subject: string, data: Uint8Array): void {
    this.checkOpen();
    this.hub.route(subject, this.copyChecked(data), () => undefined);
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.checkOpen();
      const copy = this.copyChecked(data);
      let timer: NodeJS.Timeout | undefined;
      const request: PendingRequest = {
        resolve: (reply) => {
          if (!this.pending.delete(request)) return; // answered already, timed out or closed: the first outcome stands
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (e) => {
          if (!this.pending.delete(request)) return;
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pending.add(request);
      const responders = this.hub.route(subject, copy, (reply) => request.resolve(this.copyChecked(reply)));
      if (responders === 0) request.reject(new BusError(BusErrorCode.noResponders, `503: no responders on ${subject}`));
      else timer = setTimeout(() => request.reject(new BusError(BusErrorCode.timeout, `TIMEOUT: no reply on ${subject} within ${timeoutMs} ms`)), timeoutMs);
    });
  }

  /** Everything published has been handed to the hub already; waits one turn so deliveries start. */
  async flush(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) this.hub.remove(s);
    this.subs.clear();
    for (const p of [...this.pending]) p.reject(new BusError(BusErrorCode.closed, "CONNECTION_CLOSED: the bus connection is closed"));
  }

  private checkOpen(): void {
    if (this.closed) throw new BusError(BusErrorCode.closed, "CONNECTION_CLOSED: the bus connection is closed");
  }

  private copyChecked(data: Uint8Array): Uint8Array {
    if (data.length > this.hub.maxPayload) throw new BusError(BusErrorCode.maxPayload, `MAX_PAYLOAD_EXCEEDED: ${data.length} bytes, the limit is ${this.hub.maxPayload}`);
    return Uint8Array.prototype.slice.call(data);
  }
}

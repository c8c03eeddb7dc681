/**
 * The client's only link to NATS. `Requester` is the seam: the library speaks to it, the NATS
 * implementation is the one file here that imports `nats`, and unit tests hand in a fake.
 *
 * One NATS connection per `Flotilla` instance, shared by its admin clients, producers and plain
 * fetches: opened by the first user, closed when the last one lets go (`SharedConnection`).
 */
import { connect, type NatsConnection } from "nats";
import { installNatsBufferPatch } from "../protocol/nats-buffers.js";
import { FlotillaConnectionError } from "./errors.js";

export interface Requester {
  /** Request/reply; rejects with the raw NATS error (callers map it with `fromNatsError`). */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Fire-and-forget (acks "none"). */
  publish(subject: string, data: Uint8Array): void;
  /** The largest message the server accepts (NATS `max_payload`). */
  readonly maxPayload: number;
  close(): Promise<void>;
}

export interface ConnectOptions {
  servers: string[];
  clientId: string;
  user?: string;
  pass?: string;
}

export type RequesterFactory = (options: ConnectOptions) => Promise<Requester>;

const DEFAULT_MAX_PAYLOAD = 1 << 20;

class NatsRequester implements Requester {
  constructor(private readonly nc: NatsConnection) {}

  get maxPayload(): number {
    return this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const reply = await this.nc.request(subject, data, { timeout: timeoutMs });
    return reply.data;
  }

  publish(subject: string, data: Uint8Array): void {
    this.nc.publish(subject, data);
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Connects to NATS; an unreachable server is a FlotillaConnectionError that says what to do. */
export const connectNats: RequesterFactory = async (o) => {
  installNatsBufferPatch();
  try {
    const nc = await connect({
      servers: o.servers,
      name: o.clientId,
      ...(o.user !== undefined && { user: o.user, pass: o.pass }),
      // Keep trying while a server restarts; give up on a first connect that is refused.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // nats.js otherwise builds an Error per request to keep the caller's stack: ~3 % of a
      // producer's CPU; our errors name the request and partition instead.
      noAsyncTraces: true,
    });
    return new NatsRequester(nc);
  } catch (e) {
    const why = (e as Error)?.message ?? String(e);
    const auth = /auth/i.test(why) || String((e as { code?: unknown })?.code).includes("AUTH");
    throw new FlotillaConnectionError(
      auth
        ? `could not connect to NATS at ${o.servers.join(", ")}: ${why}; check the user and password`
        : `could not connect to NATS at ${o.servers.join(", ")}: ${why}; is nats-server running there? \`flotilla dev\` starts a local cluster, --nats URL points elsewhere`,
      { cause: e },
    );
  }
};

/** One connection, opened on first `acquire` and closed when the last holder `release`s it. */
export class SharedConnection {
  private requester: Promise<Requester> | undefined;
  private readonly holders = new Set<object>();

  constructor(
    private readonly options: ConnectOptions,
    private readonly factory: RequesterFactory = connectNats,
  ) {}

  async acquire(holder: object): Promise<Requester> {
    this.holders.add(holder);
    this.requester ??= this.factory(this.options);
    try {
      return await this.requester;
    } catch (e) {
      this.requester = undefined;
      this.holders.delete(holder);
      throw e;
    }
  }

  /** The open connection; throws when nobody has connected. */
  async current(what: string): Promise<Requester> {
    if (!this.requester) throw new FlotillaConnectionError(`${what}: not connected; call connect() first`);
    return this.requester;
  }

  async release(holder: object): Promise<void> {
    if (!this.holders.delete(holder) || this.holders.size > 0) return;
    const r = this.requester;
    this.requester = undefined;
    if (r) await (await r.catch(() => undefined))?.close();
  }

  async closeAll(): Promise<void> {
    this.holders.clear();
    const r = this.requester;
    this.requester = undefined;
    if (r) await (await r.catch(() => undefined))?.close();
  }
}

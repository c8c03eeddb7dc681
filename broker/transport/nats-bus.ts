/**
 * The MessageBus over core NATS: the production path. A thin adapter; nats.js already has the
 * semantics message-bus.ts describes, and its errors already carry the codes callers map.
 *
 * The bus owns its connection: `close()` drains it.
 */
import type { NatsConnection } from "nats";
import { DEFAULT_MAX_PAYLOAD } from "./in-process-transport.js";
import type { BusHandler, BusSubscription, MessageBus } from "./message-bus.js";

export class NatsBus implements MessageBus {
  constructor(readonly connection: NatsConnection) {}

  get maxPayload(): number {
    return this.connection.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  subscribe(subject: string, options: { queue?: string }, handler: BusHandler): BusSubscription {
    return this.connection.subscribe(subject, {
      ...(options.queue !== undefined && { queue: options.queue }),
      callback: (err, msg) => {
        if (!err) handler({ subject: msg.subject, data: msg.data, respond: (data) => void msg.respond(data) });
      },
    });
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return (await this.connection.request(subject, data, { timeout: timeoutMs })).data;
  }

  publish(subject: string, data: Uint8Array): void {
    this.connection.publish(subject, data);
  }

  flush(): Promise<void> {
    return this.connection.flush();
  }

  isClosed(): boolean {
    return this.connection.isClosed();
  }

  async close(): Promise<void> {
    if (!this.connection.isClosed()) await this.connection.drain().catch(() => this.connection.close());
  }
}

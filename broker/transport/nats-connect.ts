/**
 * A broker's two NATS connections: one for client and controller requests (the MessageBus), one of
 * its own for Raft, so bulk client traffic cannot delay heartbeats.
 */
import { connect, type ConnectionOptions } from "nats";
import type { Logger } from "pino";
import { installNatsBufferPatch } from "../../protocol/nats-buffers.js";
import { NatsBus } from "./nats-bus.js";
import { NatsTransport } from "./nats-transport.js";
import type { BrokerId } from "./transport.js";

export interface BrokerNatsOptions {
  servers: string;
  user?: string;
  pass?: string;
  cluster: string;
  brokerId: BrokerId;
  logger: Logger;
}

/** Connects both; on failure closes what was opened and throws an error that says what to do. */
export async function connectBrokerNats(o: BrokerNatsOptions): Promise<{ bus: NatsBus; transport: NatsTransport }> {
  installNatsBufferPatch();
  const options: ConnectionOptions = {
    servers: o.servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // No Error (stack capture) per request: brokers request on the hot path (controller, forwarding).
    noAsyncTraces: true,
    ...(o.user !== undefined && { user: o.user }),
    ...(o.pass !== undefined && { pass: o.pass }),
  };
  let bus: NatsBus | undefined;
  try {
    bus = new NatsBus(await connect({ ...options, name: `flotilla-broker-${o.brokerId}` }));
    const raft = await connect({ ...options, name: `flotilla-broker-${o.brokerId}-raft` });
    return { bus, transport: new NatsTransport({ connection: raft, cluster: o.cluster, localId: o.brokerId, logger: o.logger, ownsConnection: true }) };
  } catch (e) {
    await bus?.close();
    throw new Error(`broker ${o.brokerId}: cannot connect to NATS at ${o.servers} (${(e as Error).message}); start nats-server or pass --nats URL`, { cause: e });
  }
}

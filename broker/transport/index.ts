/** The transport folder's public face: what the rest of the broker may use. */
export type { BrokerId, RaftMessagesHandler, Transport, TransportStats } from "./transport.js";
export { InProcessNetwork, InProcessTransport, DEFAULT_MAX_PAYLOAD, DEFAULT_INLINE_FLUSH_BYTES } from "./in-process-transport.js";
export type { InProcessNetworkOptions } from "./in-process-transport.js";
export { NatsTransport, FROM_HEADER } from "./nats-transport.js";
export type { NatsTransportOptions } from "./nats-transport.js";
export { FaultyTransport, NetworkFaults } from "./faulty-transport.js";
export type { FaultSettings, FaultStats } from "./faulty-transport.js";

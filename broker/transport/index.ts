/** The transport folder's public face: what the rest of the broker may use. */
export type { BrokerId, RaftMessagesHandler, Transport, TransportStats } from "./transport.js";
export { InProcessNetwork, InProcessTransport, DEFAULT_MAX_PAYLOAD, DEFAULT_INLINE_FLUSH_BYTES } from "./in-process-transport.js";
export type { InProcessNetworkOptions } from "./in-process-transport.js";
export { NatsTransport, FROM_HEADER } from "./nats-transport.js";
export type { NatsTransportOptions } from "./nats-transport.js";
export { FaultyTransport, NetworkFaults } from "./faulty-transport.js";
export type { FaultSettings, FaultStats } from "./faulty-transport.js";
export { BusError, BusErrorCode } from "./message-bus.js";
export type { MessageBus, BusMessage, BusHandler, BusSubscription } from "./message-bus.js";
export { InProcessBus, InProcessBusHub } from "./in-process-bus.js";
export type { InProcessBusHubOptions } from "./in-process-bus.js";
export { NatsBus } from "./nats-bus.js";
export { connectBrokerNats } from "./nats-connect.js";
export type { BrokerNatsOptions } from "./nats-connect.js";

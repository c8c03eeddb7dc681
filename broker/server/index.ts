/**
 * The public face of broker/server: the broker process. `ops/cli.ts` (`flotilla broker`) calls
 * `runBrokerProcess(parseBrokerArgs(argv))` or `runBrokerProcess(argv)`; tests and the embedded
 * dev cluster use `Broker.start(options)` / `broker.stop()`.
 */
export { Broker } from "./broker.js";
export { METADATA_TOPIC } from "./metadata-follower.js";
export { runBrokerProcess, type BrokerProcess } from "./process.js";
export { parseBrokerArgs, resolveBrokerOptions, BROKER_DEFAULTS, BROKER_PASSWORD_ENV, type BrokerNetwork, type BrokerOptions, type ResolvedBrokerOptions } from "./options.js";
export { BrokerMetrics } from "./metrics.js";
export { CONTROLLER_WIRE_VERSION } from "./controller-messages.js";

/**
 * `import { startEmbeddedCluster } from "flotilla/testing"`: an in-process cluster for
 * application tests (see embedded-cluster.ts).
 */
export { startEmbeddedCluster, EMBEDDED_BROKER_DEFAULTS, type EmbeddedCluster, type EmbeddedClusterOptions, type EmbeddedClientConfig } from "./embedded-cluster.js";
export type { NetworkFaults, FaultSettings } from "../broker/transport/index.js";

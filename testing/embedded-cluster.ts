/**
 * `startEmbeddedCluster`: a whole Flotilla cluster inside this process, for application tests and
 * `flotilla dev --embedded`. N real brokers (the same Broker, Raft groups, partition logs with
 * fsync, LMDB and metadata controller as in production) talk over an in-process message bus and an
 * in-process Raft transport instead of NATS; clients made by `flotilla()` reach them through the
 * same bus. No nats-server, no docker, no ports (unless metrics are asked for).
 *
 * This folder is the one place that imports both client/ and broker/ (DESIGN's layout keeps the
 * client free of the broker); applications reach it as `import { startEmbeddedCluster } from "flotilla/testing"`.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { Broker, type BrokerOptions } from "../broker/server/index.js";
import { FaultyTransport, InProcessBusHub, InProcessNetwork, NetworkFaults, type InProcessBus } from "../broker/transport/index.js";
import { DEFAULT_CLUSTER, Flotilla, FlotillaConnectionError, FlotillaError, type FlotillaConfig } from "../client/index.js";
import { clusterNameProblem } from "../protocol/subjects.js";

export interface EmbeddedClusterOptions {
  /** How many brokers. Default 3; brokers 1..min(N, 3) are the controllers. */
  brokers?: number;
  /** Where the brokers keep their data (`broker-N/` below it). Default: a temporary directory, removed by stop(). */
  dir?: string;
  /** The cluster name. Default "flotilla". */
  cluster?: string;
  /** Broker logs. Default: none. */
  logger?: Logger;
  /** Serve each broker's GET /metrics on a free port (`brokers[i].metricsPort`). Default false. */
  metrics?: boolean;
  /** How long start waits for a controller leader and every broker registered. Default 30 s. */
  readyTimeoutMs?: number;
  /** Tuning passed to every broker (tick length, heartbeats, timeouts). Defaults: EMBEDDED_BROKER_DEFAULTS, then the broker's own. */
  brokerOptions?: Pick<BrokerOptions, "tickMs" | "heartbeatTicks" | "electionTicks" | "heartbeatMs" | "sessionTimeoutMs" | "shutdownHandOffMs">;
}

/** A client's configuration in the embedded cluster: everything but where to connect. */
export type EmbeddedClientConfig = Omit<FlotillaConfig, "servers" | "cluster" | "user" | "pass" | "connect">;

export interface EmbeddedCluster {
  readonly cluster: string;
  readonly dir: string;
  /** The brokers, by id order (id = index + 1). */
  readonly brokers: readonly Broker[];
  /**
   * The Raft network's faults, off until set: `faults.partition([1], [2, 3])` cuts broker 1's Raft
   * links to 2 and 3 (client requests still reach it, as when NATS bridges a split), `faults.set({
   * dropRate, duplicateRate, delayMs })` degrades every link, `faults.reset()` heals all.
   */
  readonly faults: NetworkFaults;
  /** A client of this cluster: the library's Flotilla, connected over the in-process bus. */
  flotilla(config?: EmbeddedClientConfig): Flotilla;
  /** Stops every broker and closes every client connection; removes the directory if it was temporary. Idempotent. */
  stop(): Promise<void>;
}

const READY_POLL_MS = 20;

/**
 * In-process messages arrive in microseconds, so Raft can run four times faster than over NATS
 * (elections in 250–500 ms) and brokers heartbeat every 100 ms: a cluster is ready, and a new
 * topic's partitions have leaders, in well under a second.
 */
export const EMBEDDED_BROKER_DEFAULTS = { tickMs: 25, heartbeatMs: 100 } as const;

export async function startEmbeddedCluster(options: EmbeddedClusterOptions = {}): Promise<EmbeddedCluster> {
  const n = options.brokers ?? 3;
  const cluster = options.cluster ?? DEFAULT_CLUSTER;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const problems: string[] = [];
  if (!Number.isSafeInteger(n) || n < 1) problems.push(`brokers ${String(n)} must be an integer ≥ 1`);
  const cp = typeof cluster === "string" ? clusterNameProblem(cluster) : "cluster must be a string";
  if (cp) problems.push(cp);
  if (options.dir !== undefined && (typeof options.dir !== "string" || options.dir.length === 0)) problems.push("dir must be a non-empty path");
  if (!Number.isSafeInteger(readyTimeoutMs) || readyTimeoutMs < 1) problems.push(`readyTimeoutMs ${String(readyTimeoutMs)} must be an integer ≥ 1`);
  if (problems.length > 0) throw new FlotillaError("INVALID_CONFIG", `startEmbeddedCluster: ${problems.join("; ")}`);
  const logger = options.logger ?? pino({ level: "silent" });
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "flotilla-embedded-")));
  await mkdir(dir, { recursive: true });
  const hub = new InProcessBusHub();
  const network = new InProcessNetwork({ logger });
  const faults = new NetworkFaults();
  const clientBuses = new Set<InProcessBus>();
  const controllers = Array.from({ length: Math.min(n, 3) }, (_, i) => i + 1);
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      Broker.start({
        ...EMBEDDED_BROKER_DEFAULTS,
        ...options.brokerOptions,
        id: i + 1,
        dir: join(dir, `broker-${i + 1}`),
        controllers,
        cluster,
        logger,
        ...(options.metrics && { metricsPort: 0 }),
        network: { bus: hub.connect(), transport: new FaultyTransport(network.connect(i + 1), faults) },
      }),
    ),
  );
  const brokers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // The whole cluster goes: handing leadership to a broker that is stopping too is wasted time.
      await Promise.all(brokers.map((b) => b.stop({ handOff: false })));
      await Promise.all([...clientBuses].map((b) => b.close()));
      if (ownDir) await rm(dir, { recursive: true, force: true });
    })());

  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  try {
    if (failed) throw failed.reason;
    await waitReady(brokers, readyTimeoutMs);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    cluster,
    dir,
    brokers,
    faults,
    flotilla: (config = {}) =>
      new Flotilla({
        ...config,
        cluster,
        connect: async () => {
          if (stopping) throw new FlotillaConnectionError(`embedded cluster "${cluster}" is stopped; start another with startEmbeddedCluster()`);
          const bus = hub.connect();
          clientBuses.add(bus);
          return bus;
        },
      }),
    stop,
  };
}

/** Resolves once a controller leader is elected and every broker's image has every broker registered and unfenced. */
async function waitReady(brokers: readonly Broker[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const ready = (): boolean => brokers.some((b) => b.isControllerLeader) && brokers.every((b) => b.metadataImage.unfencedBrokers().length === brokers.length);
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`startEmbeddedCluster: the cluster was not ready within ${timeoutMs} ms (no controller leader, or a broker not registered)`);
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

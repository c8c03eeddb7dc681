/**
 * A broker process's options: what `flotilla broker --id N --dir DIR --controllers 1,2,3 [--nats URL]
 * [--cluster NAME] [--metrics-port P]` says (CONTRACTS.md), plus knobs for tests. Validated at
 * construction, every problem reported at once.
 */
import type { Logger } from "pino";
import { clusterNameProblem } from "../../protocol/subjects.js";
import type { MessageBus, Transport } from "../transport/index.js";

/** What a broker talks over when it is not connecting to NATS itself (the embedded mode). */
export interface BrokerNetwork {
  /** Client, admin and controller requests. */
  bus: MessageBus;
  /** Raft traffic; `localId` must be the broker's id. */
  transport: Transport;
}

export interface BrokerOptions {
  /** This broker's id: a positive integer, its Raft node id in every group it hosts. */
  id: number;
  /** Where the broker keeps everything: `state/` (LMDB), `metadata/` (the metadata log, controllers only), `partitions/`. */
  dir: string;
  /** The controller quorum: the voters of the metadata group, fixed at bootstrap. The same list on every broker. */
  controllers: number[];
  /** Default nats://127.0.0.1:4222. */
  nats?: string;
  /** NATS user and password (the `broker` user of ops' secure config). */
  natsUser?: string;
  natsPassword?: string;
  /** Default "flotilla". */
  cluster?: string;
  /** Serve GET /metrics on this port (0: any free port; absent: no HTTP server). */
  metricsPort?: number;
  /** Default: pino JSON on stdout at FLOTILLA_LOG_LEVEL or "info". */
  logger?: Logger;
  /** Milliseconds per Raft tick (every group). Default 100. */
  tickMs?: number;
  /** Raft heartbeat interval and election timeout, in ticks (every group). Defaults 3 and 10 (randomized to [10, 20)). */
  heartbeatTicks?: number;
  electionTicks?: number;
  /** How often a broker heartbeats to the controller. Default 500 ms. */
  heartbeatMs?: number;
  /** A broker not heard from for this long is fenced. Default 6000 ms. */
  sessionTimeoutMs?: number;
  /** How long graceful shutdown waits for leadership to move away. Default 5000 ms. */
  shutdownHandOffMs?: number;
  /** A follower not caught up with its leader (or not heard from) for this long is out of sync: under-replicated. Default 10000 ms. */
  replicaLagMaxMs?: number;
  /**
   * TESTS ONLY (`flotilla broker --fault-control`): obey fault-injection commands on the
   * broker-only subject `faults.<id>` (fault-control.ts). Default false.
   */
  faultControl?: boolean;
  /** Run over these instead of connecting to NATS (`nats`, `natsUser`, `natsPassword` are then unused). The broker owns them: `stop()` closes both. */
  network?: BrokerNetwork;
}

export interface ResolvedBrokerOptions extends Required<Omit<BrokerOptions, "logger" | "metricsPort" | "natsUser" | "natsPassword" | "network">> {
  logger?: Logger;
  network?: BrokerNetwork;
  metricsPort?: number;
  natsUser?: string;
  natsPassword?: string;
}

export const BROKER_DEFAULTS = {
  nats: "nats://127.0.0.1:4222",
  cluster: "flotilla",
  tickMs: 100,
  // Idle groups cost mostly heartbeats: one per 300 ms still gives three per minimum election timeout.
  heartbeatTicks: 3,
  electionTicks: 10,
  heartbeatMs: 500,
  sessionTimeoutMs: 6000,
  shutdownHandOffMs: 5000,
  replicaLagMaxMs: 10_000,
} as const;

const positiveInt = (v: unknown): boolean => typeof v === "number" && Number.isSafeInteger(v) && v > 0;

export function resolveBrokerOptions(o: BrokerOptions): ResolvedBrokerOptions {
  const problems: string[] = [];
  if (!positiveInt(o.id) || o.id > 2 ** 31 - 1) problems.push(`--id ${o.id} must be an integer from 1 to 2147483647`);
  if (typeof o.dir !== "string" || o.dir.length === 0) problems.push("--dir is required");
  if (!Array.isArray(o.controllers) || o.controllers.length === 0) problems.push("--controllers is required (e.g. 1,2,3)");
  else {
    if (o.controllers.some((c) => !positiveInt(c))) problems.push(`--controllers ${o.controllers.join(",")} must be positive integer broker ids`);
    if (new Set(o.controllers).size !== o.controllers.length) problems.push(`--controllers ${o.controllers.join(",")} lists a broker twice`);
  }
  const cluster = o.cluster ?? BROKER_DEFAULTS.cluster;
  const cp = clusterNameProblem(cluster);
  if (cp) problems.push(`--cluster: ${cp}`);
  if (o.metricsPort !== undefined && (!Number.isSafeInteger(o.metricsPort) || o.metricsPort < 0 || o.metricsPort > 65535)) {
    problems.push(`--metrics-port ${o.metricsPort} must be a port number (0 picks a free one)`);
  }
  for (const k of ["tickMs", "heartbeatTicks", "electionTicks", "heartbeatMs", "sessionTimeoutMs", "shutdownHandOffMs", "replicaLagMaxMs"] as const) {
    if (o[k] !== undefined && !positiveInt(o[k])) problems.push(`${k} ${o[k]} must be a positive integer`);
  }
  const heartbeatTicks = o.heartbeatTicks ?? BROKER_DEFAULTS.heartbeatTicks;
  const electionTicks = o.electionTicks ?? BROKER_DEFAULTS.electionTicks;
  if (heartbeatTicks * 3 > electionTicks) problems.push(`heartbeatTicks ${heartbeatTicks} must be at most a third of electionTicks ${electionTicks}`);
  const heartbeatMs = o.heartbeatMs ?? BROKER_DEFAULTS.heartbeatMs;
  const sessionTimeoutMs = o.sessionTimeoutMs ?? BROKER_DEFAULTS.sessionTimeoutMs;
  if (sessionTimeoutMs <= 2 * heartbeatMs) problems.push(`sessionTimeoutMs ${sessionTimeoutMs} must be more than two heartbeats (${heartbeatMs} ms each)`);
  if (o.network && o.network.transport.localId !== o.id) problems.push(`network: the transport is broker ${o.network.transport.localId}'s, not broker ${o.id}'s`);
  if (problems.length > 0) throw new RangeError(`invalid broker options: ${problems.join("; ")}`);
  return {
    id: o.id,
    dir: o.dir,
    controllers: [...o.controllers].sort((a, b) => a - b),
    nats: o.nats ?? BROKER_DEFAULTS.nats,
    cluster,
    tickMs: o.tickMs ?? BROKER_DEFAULTS.tickMs,
    heartbeatTicks,
    electionTicks,
    heartbeatMs,
    sessionTimeoutMs,
    shutdownHandOffMs: o.shutdownHandOffMs ?? BROKER_DEFAULTS.shutdownHandOffMs,
    replicaLagMaxMs: o.replicaLagMaxMs ?? BROKER_DEFAULTS.replicaLagMaxMs,
    faultControl: o.faultControl === true,
    ...(o.logger && { logger: o.logger }),
    ...(o.metricsPort !== undefined && { metricsPort: o.metricsPort }),
    ...(o.natsUser !== undefined && { natsUser: o.natsUser }),
    ...(o.natsPassword !== undefined && { natsPassword: o.natsPassword }),
    ...(o.network && { network: o.network }),
  };
}

/** The environment variable ops' secure NATS config takes the `broker` user's password from (ops/nats-server.ts). */
export const BROKER_PASSWORD_ENV = "FLOTILLA_NATS_BROKER_PASSWORD";

/**
 * Parses `--id 1 --dir d --controllers 1,2,3 --nats URL --cluster NAME --metrics-port P` (also
 * `--flag=value`). Throws RangeError naming every problem. Unknown flags are problems too.
 * NATS credentials: `--nats-user`, and the password from $FLOTILLA_NATS_BROKER_PASSWORD (user
 * `broker` unless `--nats-user` says otherwise), so it never shows in a process listing.
 */
export function parseBrokerArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BrokerOptions {
  const values = new Map<string, string>();
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) problems.push(`--${name} needs a value`);
    else values.set(name, value);
  }
  const known = new Set(["id", "dir", "controllers", "nats", "cluster", "metrics-port", "nats-user"]);
  for (const k of values.keys()) if (!known.has(k)) problems.push(`unknown flag --${k}`);
  const int = (name: string): number | undefined => {
    const v = values.get(name);
    if (v === undefined) return undefined;
    if (!/^[0-9]+$/.test(v)) {
      problems.push(`--${name} "${v}" is not a non-negative integer`);
      return undefined;
    }
    return Number(v);
  };
  const id = int("id");
  const metricsPort = int("metrics-port");
  const controllersText = values.get("controllers");
  let controllers: number[] = [];
  if (controllersText !== undefined) {
    const parts = controllersText.split(",").map((s) => s.trim());
    if (parts.some((p) => !/^[0-9]+$/.test(p))) problems.push(`--controllers "${controllersText}" must be broker ids separated by commas, e.g. 1,2,3`);
    else controllers = parts.map(Number);
  }
  if (id === undefined && !problems.some((p) => p.includes("--id"))) problems.push("--id is required");
  if (!values.has("dir")) problems.push("--dir is required");
  if (controllersText === undefined) problems.push("--controllers is required (e.g. 1,2,3)");
  if (problems.length > 0) throw new RangeError(`flotilla broker: ${problems.join("; ")}`);
  return {
    id: id!,
    dir: values.get("dir")!,
    controllers,
    ...(values.has("nats") && { nats: values.get("nats")! }),
    ...(values.has("cluster") && { cluster: values.get("cluster")! }),
    ...(metricsPort !== undefined && { metricsPort }),
    ...(values.has("nats-user") && { natsUser: values.get("nats-user")! }),
    ...(env[BROKER_PASSWORD_ENV] && { natsUser: values.get("nats-user") ?? "broker", natsPassword: env[BROKER_PASSWORD_ENV] }),
  };
}

/**
 * The options of the cluster workloads (`produce`, `consume`, `e2e`, `compare`), parsed and checked
 * in one place: one error naming every problem.
 */
import type { Acks } from "../protocol/requests.js";

export const CLUSTER_WORKLOADS = ["produce", "consume", "e2e"] as const;
export type ClusterWorkload = (typeof CLUSTER_WORKLOADS)[number];

export interface WorkloadOptions {
  records: number;
  /** Bytes of each record's value. */
  size: number;
  partitions: number;
  replicationFactor: number;
  acks: Acks;
  /** Producer clients, each with its own connection; records and rate are split between them. */
  producers: number;
  /** Offered load in records/s over all producers; undefined = as fast as acks allow. */
  rate: number | undefined;
  idempotent: boolean;
  /** Flotilla producer settings (what the client library exposes). */
  lingerMs: number;
  batchBytes: number;
  maxInFlight: number;
  /** Use this running NATS (and the Flotilla brokers on it) instead of starting a cluster. */
  nats: string | undefined;
  cluster: string;
  /** `compare` only: the workload both systems run. */
  workload: ClusterWorkload;
  report: string | undefined;
  /** Flotilla brokers write V8 CPU profiles (node --cpu-prof) here. */
  cpuProfDir: string | undefined;
  json: boolean;
}

export const WORKLOAD_DEFAULTS = {
  records: 100_000,
  size: 1024,
  partitions: 1,
  replicationFactor: 3,
  acks: "all",
  producers: 1,
  idempotent: true,
  lingerMs: 2,
  // Below the broker's limit (the NATS max payload less 64 KiB for the Raft envelope): a batch
  // above it is refused as too large and split in two by the producer.
  batchBytes: 900 * 1024,
  maxInFlight: 8,
  cluster: "flotilla",
} as const;

/** e2e measures latency at a load, so it runs at a fixed rate unless told otherwise. */
export const E2E_DEFAULT_RATE = 10_000;

export const WORKLOAD_USAGE =
  "Options: --records N --size BYTES --partitions P --replication-factor R --acks all|leader --producers K --rate R (records/s, fixed-rate mode) " +
  "--idempotent true|false --linger-ms --batch-bytes --max-in-flight --nats URL (use a running cluster) --cluster NAME --report FILE.html --cpu-prof DIR (broker CPU profiles) --json";

type NumberKey = "records" | "size" | "partitions" | "replicationFactor" | "producers" | "rate" | "lingerMs" | "batchBytes" | "maxInFlight";

const NUMBER_FLAGS: Record<string, { key: NumberKey; min: number }> = {
  "--records": { key: "records", min: 1 },
  "--size": { key: "size", min: 8 },
  "--partitions": { key: "partitions", min: 1 },
  "--replication-factor": { key: "replicationFactor", min: 1 },
  "--producers": { key: "producers", min: 1 },
  "--rate": { key: "rate", min: 1 },
  "--linger-ms": { key: "lingerMs", min: 0 },
  "--batch-bytes": { key: "batchBytes", min: 1024 },
  "--max-in-flight": { key: "maxInFlight", min: 1 },
};

export function parseWorkloadArgs(command: string, args: readonly string[]): WorkloadOptions {
  const o: WorkloadOptions = { ...WORKLOAD_DEFAULTS, rate: undefined, nats: undefined, workload: "produce", report: undefined, cpuProfDir: undefined, json: false };
  const problems: string[] = [];
  const strings: Record<string, (v: string) => void> = {
    "--acks": (v) => (v === "all" || v === "leader" ? (o.acks = v) : problems.push(`--acks must be all or leader, got ${v}`)),
    "--idempotent": (v) => (v === "true" || v === "false" ? (o.idempotent = v === "true") : problems.push(`--idempotent must be true or false, got ${v}`)),
    "--nats": (v) => (o.nats = v),
    "--cluster": (v) => (o.cluster = v),
    "--report": (v) => (o.report = v),
    "--cpu-prof": (v) => (o.cpuProfDir = v),
  };
  if (command === "compare") {
    strings["--workload"] = (v) =>
      (CLUSTER_WORKLOADS as readonly string[]).includes(v) ? (o.workload = v as ClusterWorkload) : problems.push(`--workload must be one of ${CLUSTER_WORKLOADS.join(", ")}, got ${v}`);
  }
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    if (flag === "--json") {
      o.json = true;
      continue;
    }
    const numeric = NUMBER_FLAGS[flag];
    const text = strings[flag];
    if (!numeric && !text) {
      problems.push(`unknown option ${flag}`);
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || value.startsWith("--")) {
      problems.push(`${flag} needs a value`);
      continue;
    }
    i++;
    if (text) text(value);
    else {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < numeric.min) problems.push(`${flag} needs an integer ≥ ${numeric.min}, got ${value}`);
      else o[numeric.key] = n;
    }
  }
  if (o.producers > o.records) problems.push(`--producers ${o.producers} is more than --records ${o.records}`);
  if (problems.length > 0) throw new Error(`bench ${command}: ${problems.join("; ")}`);
  if ((command === "e2e" || (command === "compare" && o.workload === "e2e")) && o.rate === undefined) o.rate = E2E_DEFAULT_RATE;
  return o;
}

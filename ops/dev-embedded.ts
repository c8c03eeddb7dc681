/**
 * `flotilla dev --embedded`: every broker in this one process (flotilla/testing's embedded cluster),
 * no NATS, each broker serving its metrics on a free port, and their logs in one file.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { startEmbeddedCluster, type EmbeddedCluster } from "../testing/index.js";

export interface EmbeddedDevOptions {
  brokers: number;
  /** Data and the log file; default a temporary directory removed on stop. */
  dir?: string;
  cluster: string;
  /** Broker log level. Default $FLOTILLA_LOG_LEVEL or "info". */
  logLevel?: string;
}

export interface EmbeddedDev {
  readonly cluster: EmbeddedCluster;
  /** The brokers' JSON log. */
  readonly log: string;
  readonly brokers: Array<{ id: number; metricsPort: number; metricsUrl: string }>;
  readonly controllerLeader: number | null;
  /** Stops the brokers, closes the log, removes a temporary directory. Idempotent. */
  stop(): Promise<void>;
}

export async function startEmbeddedDev(o: EmbeddedDevOptions): Promise<EmbeddedDev> {
  const ownDir = o.dir === undefined;
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), "flotilla-dev-embedded-")));
  const log = join(dir, "brokers.log");
  const destination = pino.destination({ dest: log, mkdir: true, sync: false });
  const logger = pino({ level: o.logLevel ?? process.env.FLOTILLA_LOG_LEVEL ?? "info" }, destination);
  let stopping: Promise<void> | undefined;
  const closeRest = async (): Promise<void> => {
    destination.flushSync();
    destination.end();
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };
  let cluster: EmbeddedCluster;
  try {
    cluster = await startEmbeddedCluster({ brokers: o.brokers, dir, cluster: o.cluster, logger, metrics: true });
  } catch (e) {
    await closeRest();
    throw e;
  }
  return {
    cluster,
    log,
    brokers: cluster.brokers.map((b) => ({ id: b.id, metricsPort: b.metricsPort!, metricsUrl: `http://127.0.0.1:${b.metricsPort}/metrics` })),
    controllerLeader: cluster.brokers.find((b) => b.isControllerLeader)?.id ?? null,
    stop: () => (stopping ??= cluster.stop().finally(closeRest)),
  };
}

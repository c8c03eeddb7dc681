/**
 * NATS JetStream under test: a 3-node JetStream cluster on loopback (Debian's nats-server with
 * `-js`, cluster routes between the three), one stream per partition with `num_replicas` = the
 * replication factor and file storage. Publishing is nats.js's async JetStream publish with many
 * publishes in flight, with a Nats-Msg-Id (the stream's dedup) when Flotilla runs idempotent.
 * Reading is an ordered consumer from the first message.
 *
 * The only file of bench/ that imports `nats`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { access, constants, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect, RetentionPolicy, StorageType, type JetStreamClient, type NatsConnection } from "nats";
import type { BenchProducer, BenchSystem } from "./bench-system.js";
import type { WorkloadOptions } from "./workload-options.js";

const NODES = 3;
const LOOPBACK = "127.0.0.1";
const READY_TIMEOUT_MS = 30_000;
/**
 * How long a publish (or a consumer request) waits for its answer. A benchmark pushed past what the
 * cluster sustains must see the latency grow, not fail (nats.js's default is 5 s).
 */
const PUBLISH_TIMEOUT_MS = 120_000;

/** nats-server on PATH or where Debian puts it (`flotilla dev` installs it when missing). */
async function natsServerBinary(): Promise<string> {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/usr/bin"];
  for (const dir of dirs) {
    const path = join(dir, "nats-server");
    if (await access(path, constants.X_OK).then(() => true, () => false)) return path;
  }
  throw new Error("nats-server not found: install it (`apt-get install -y nats-server`, or run `flotilla dev` once, which installs it)");
}

/** `count` distinct free loopback ports: every probe stays bound until all are picked. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => s.once("error", reject).listen(0, LOOPBACK, resolve));
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Three nats-server processes routed to each other, JetStream on, data in a temporary directory. */
class JetStreamCluster {
  private constructor(
    private readonly children: ChildProcess[],
    private readonly dir: string,
    readonly urls: string[],
  ) {}

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? 0);
  }

  static async start(): Promise<JetStreamCluster> {
    const binary = await natsServerBinary();
    const dir = await mkdtemp(join(tmpdir(), "flotilla-bench-js-"));
    const ports = await freePorts(NODES * 2);
    const clientPorts = ports.slice(0, NODES);
    const routePorts = ports.slice(NODES);
    const routes = routePorts.map((p) => `nats-route://${LOOPBACK}:${p}`).join(",");
    const children = clientPorts.map((port, i) =>
      spawn(
        binary,
        ["-js", "-sd", join(dir, `n${i + 1}`), "-a", LOOPBACK, "-p", String(port), "-n", `n${i + 1}`, "--cluster_name", "bench", "--cluster", `nats://${LOOPBACK}:${routePorts[i]}`, "--routes", routes],
        { stdio: ["ignore", "ignore", "ignore"] },
      ),
    );
    return new JetStreamCluster(children, dir, clientPorts.map((p) => `nats://${LOOPBACK}:${p}`));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map((c) => {
        if (c.exitCode !== null || c.signalCode !== null) return undefined;
        const exited = new Promise((r) => c.once("exit", r));
        c.kill("SIGTERM");
        return exited;
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

class JetStreamProducer implements BenchProducer {
  private sequence = 0;
  private readonly id = randomBytes(6).toString("hex");

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly idempotent: boolean,
  ) {}

  async send(partition: number, values: Buffer[]): Promise<void> {
    const subject = subjectOf(partition);
    await Promise.all(values.map((v) => this.js.publish(subject, v, this.idempotent ? { msgID: `${this.id}-${this.sequence++}` } : undefined)));
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}

const streamOf = (partition: number): string => `BENCH_${partition}`;
const subjectOf = (partition: number): string => `bench.${partition}`;

/** Publishes in flight per stream: measured best here between 256 and 16384 (more only queues). */
const PUBLISH_WINDOW = 512;

export class JetStreamSystem implements BenchSystem {
  readonly name = "jetstream";
  readonly window: number;
  readonly serverPids: readonly number[];

  private constructor(
    private readonly o: WorkloadOptions,
    private readonly cluster: JetStreamCluster,
    private readonly reader: NatsConnection,
  ) {
    this.window = PUBLISH_WINDOW * o.partitions;
    this.serverPids = cluster.pids;
  }

  static async start(o: WorkloadOptions, say: (line: string) => void): Promise<JetStreamSystem> {
    say(`starting a ${NODES}-node NATS JetStream cluster…`);
    const cluster = await JetStreamCluster.start();
    let nc: NatsConnection | undefined;
    try {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      nc = await connect({ servers: cluster.urls, waitOnFirstConnect: true, timeout: READY_TIMEOUT_MS });
      // JetStream answers (and takes streams) once the cluster has elected its meta leader.
      for (let p = 0; p < o.partitions; p++) {
        for (;;) {
          try {
            const jsm = await nc.jetstreamManager({ timeout: 2000 });
            await jsm.streams.add({ name: streamOf(p), subjects: [subjectOf(p)], num_replicas: o.replicationFactor, storage: StorageType.File, retention: RetentionPolicy.Limits });
            break;
          } catch (e) {
            if (Date.now() > deadline) throw new Error(`the JetStream cluster did not accept a stream within ${READY_TIMEOUT_MS} ms: ${(e as Error).message}`);
            await sleep(250);
          }
        }
      }
      return new JetStreamSystem(o, cluster, nc);
    } catch (e) {
      await nc?.close();
      await cluster.stop();
      throw e;
    }
  }

  async producer(): Promise<BenchProducer> {
    const nc = await connect({ servers: this.cluster.urls });
    return new JetStreamProducer(nc, nc.jetstream({ timeout: PUBLISH_TIMEOUT_MS }), this.o.idempotent);
  }

  async read(partition: number, onValues: (values: Uint8Array[]) => void, until: AbortSignal): Promise<void> {
    const consumer = await this.reader.jetstream({ timeout: PUBLISH_TIMEOUT_MS }).consumers.get(streamOf(partition));
    const messages = await consumer.consume({ max_messages: 4096 });
    const stop = (): void => void messages.stop();
    if (until.aborted) stop();
    until.addEventListener("abort", stop);
    for await (const m of messages) onValues([m.data]);
  }

  async stop(): Promise<void> {
    await this.reader.close();
    await this.cluster.stop();
  }
}

/**
 * Flotilla under test. By default a local 3-broker cluster of its own: `flotilla dev --json` as a
 * child process (its own nats-server and temporary directory, both gone when it stops), so the
 * brokers are real processes, as in production, and bench/ never imports broker/. With `--nats` it
 * uses the brokers already on that NATS. Either way the run gets a fresh topic.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Flotilla, type Producer } from "../client/index.js";
import type { BenchProducer, BenchSystem } from "./bench-system.js";
import type { WorkloadOptions } from "./workload-options.js";

const CLI_PATH = fileURLToPath(new URL("../ops/cli.js", import.meta.url));
/** Lines of the dev cluster's stderr kept to explain a failed start. */
const STDERR_TAIL = 20;

/** `flotilla dev --json` in a child process: its first stdout line says where the cluster is. */
class DevClusterProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly natsUrl: string,
    readonly brokerPids: number[],
    readonly natsPid: number | null,
  ) {}

  static async start(cpuProfDir: string | undefined): Promise<DevClusterProcess> {
    const env = { ...process.env };
    // ops/dev.ts's FLOTILLA_BROKER_NODE_ARGS (Node refuses --cpu-prof in NODE_OPTIONS).
    if (cpuProfDir) env.FLOTILLA_BROKER_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${cpuProfDir}`;
    const child = spawn(process.execPath, [CLI_PATH, "dev", "--json", "--brokers", "3"], { stdio: ["ignore", "pipe", "pipe"], env });
    const tail: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (l) => tail.push(l) > STDERR_TAIL && tail.shift());
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const line = await Promise.race([
      new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve)),
      exited.then(() => Promise.reject(new Error(`flotilla dev did not start:\n${tail.join("\n")}`))),
    ]);
    const info = JSON.parse(line) as { nats: string; natsPid: number | null; brokers: Array<{ pid: number }> };
    return new DevClusterProcess(child, exited, info.nats, info.brokers.map((b) => b.pid), info.natsPid);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.exited;
  }
}

class FlotillaProducer implements BenchProducer {
  constructor(
    private readonly flotilla: Flotilla,
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  async send(partition: number, values: Buffer[]): Promise<void> {
    await this.producer.send({ topic: this.topic, messages: values.map((value) => ({ value, partition })) });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
    await this.flotilla.disconnect();
  }
}

export class FlotillaSystem implements BenchSystem {
  readonly name = "flotilla";
  readonly window: number;
  readonly serverPids: readonly number[];
  private readonly reader: Flotilla;

  private constructor(
    private readonly o: WorkloadOptions,
    private readonly natsUrl: string,
    private readonly topic: string,
    private readonly cluster: DevClusterProcess | undefined,
  ) {
    this.reader = this.client("flotilla-bench-reader");
    this.serverPids = cluster ? [...cluster.brokerPids, ...(cluster.natsPid === null ? [] : [cluster.natsPid])] : [];
    // Every partition's in-flight batches, full, and one more being filled.
    this.window = Math.ceil((o.partitions * (o.maxInFlight + 1) * o.batchBytes) / (o.size + 16));
  }

  /** Starts the cluster (unless `--nats`), creates the topic and waits for every partition's leader. */
  static async start(o: WorkloadOptions, say: (line: string) => void): Promise<FlotillaSystem> {
    let cluster: DevClusterProcess | undefined;
    if (!o.nats) {
      say("starting a 3-broker Flotilla cluster (flotilla dev)…");
      cluster = await DevClusterProcess.start(o.cpuProfDir);
      if (o.cpuProfDir) say(`broker pids ${cluster.brokerPids.join(", ")}: CPU profiles go to ${o.cpuProfDir}`);
    }
    const system = new FlotillaSystem(o, o.nats ?? cluster!.natsUrl, `bench-${randomBytes(4).toString("hex")}`, cluster);
    try {
      await system.createTopic();
    } catch (e) {
      await system.stop();
      throw e;
    }
    return system;
  }

  private client(clientId: string): Flotilla {
    return new Flotilla({ servers: this.natsUrl, cluster: this.o.cluster, clientId });
  }

  private async createTopic(): Promise<void> {
    const admin = this.client("flotilla-bench-admin").admin();
    await admin.connect();
    try {
      await admin.createTopic({ topic: this.topic, partitions: this.o.partitions, replicationFactor: this.o.replicationFactor });
      for (;;) {
        const d = await admin.describeTopic(this.topic);
        if (d.partitions.length === this.o.partitions && d.partitions.every((p) => p.leader !== undefined)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await admin.disconnect();
    }
  }

  async producer(): Promise<BenchProducer> {
    const flotilla = this.client("flotilla-bench-producer");
    const producer = flotilla.producer({
      acks: this.o.acks,
      idempotent: this.o.idempotent,
      lingerMs: this.o.lingerMs,
      batchBytes: this.o.batchBytes,
      maxInFlight: this.o.maxInFlight,
      // The driver bounds what it has outstanding; the producer must never be the one that waits.
      bufferBytes: 256 * 1024 * 1024,
    });
    await producer.connect();
    return new FlotillaProducer(flotilla, producer, this.topic);
  }

  async read(partition: number, onValues: (values: Uint8Array[]) => void, until: AbortSignal): Promise<void> {
    let offset = 0n;
    while (!until.aborted) offset = await this.readOnce(partition, offset, onValues);
  }

  /**
   * One fetch, delivered; returns the next offset. A function of its own because a suspended async
   * function keeps the locals of its last iteration: a loop body holding `records` kept each 8 MiB
   * response alive through the next fetch, long enough to be promoted, and then only full GCs freed them.
   */
  private async readOnce(partition: number, offset: bigint, onValues: (values: Uint8Array[]) => void): Promise<bigint> {
    // As much as one message holds: the client caps maxBytes at the server's max payload.
    const { records } = await this.reader.fetch({ topic: this.topic, partition, offset, maxBytes: 64 << 20, maxWaitMs: 100 });
    if (records.length === 0) return offset;
    onValues(records.map((r) => r.value ?? new Uint8Array(0)));
    return records[records.length - 1].offset + 1n;
  }

  async stop(): Promise<void> {
    await this.reader.disconnect();
    await this.cluster?.stop();
  }
}

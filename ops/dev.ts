/**
 * A local cluster for development: its own `nats-server` (unless given a NATS URL) and N broker
 * processes (`flotilla broker …`, one OS process each), controllers 1..min(N, 3). What `flotilla
 * dev` and `npm start` run.
 *
 * No orphans. Brokers and nats-server (held by `dev-nats.ts`) run in process groups of their own,
 * so a Ctrl-C at the terminal reaches only this process, which stops them in order: SIGTERM to the
 * brokers (each hands its leaderships away and exits), SIGKILL for any still there after a grace
 * period, then nats-server. Each child also gets a pipe on stdin (brokers with the environment
 * variable FLOTILLA_EXIT_WITH_PARENT): when this process dies without cleaning up (kill -9), the
 * pipe closes and they stop by themselves.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { Flotilla, type ClusterDescription } from "../client/index.js";
import { freePort } from "./nats-server.js";

export const CLI_PATH = fileURLToPath(new URL("./cli.js", import.meta.url));
const DEV_NATS_PATH = fileURLToPath(new URL("./dev-nats.js", import.meta.url));
export const EXIT_WITH_PARENT_ENV = "FLOTILLA_EXIT_WITH_PARENT";
/**
 * Extra node flags for the broker processes, space-separated (e.g. `--cpu-prof --cpu-prof-dir=D`
 * for `bench --cpu-prof`: Node refuses profiling flags in NODE_OPTIONS).
 */
export const BROKER_NODE_ARGS_ENV = "FLOTILLA_BROKER_NODE_ARGS";

export interface DevClusterOptions {
  brokers: number;
  /** Where brokers keep their data and logs; default a temporary directory removed on stop. */
  dir?: string;
  /** Use this NATS server instead of starting one. */
  nats?: string;
  cluster: string;
  /** Progress and warnings for people (stderr). */
  say?: (line: string) => void;
  /** Broker log level (their logs go to <dir>/broker-N.log). Default "info". */
  logLevel?: string;
}

export interface DevBroker {
  id: number;
  pid: number;
  metricsPort: number;
  metricsUrl: string;
  log: string;
}

const STOP_GRACE_MS = 15_000;

export class DevCluster {
  private stopping: Promise<void> | undefined;
  private readonly children = new Map<number, ChildProcess>();
  private readonly exits = new Map<number, Promise<void>>();
  /** Set when a broker exits while the cluster is not stopping. */
  brokerFailure: string | undefined;

  private constructor(
    readonly natsUrl: string,
    readonly cluster: string,
    readonly dir: string,
    private readonly ownDir: boolean,
    private readonly nats: OwnNats | undefined,
    readonly brokers: DevBroker[],
    private readonly say: (line: string) => void,
  ) {}

  /** The pid of the nats-server this cluster started, if it started one. */
  get natsPid(): number | undefined {
    return this.nats?.pid;
  }

  static async start(o: DevClusterOptions): Promise<DevCluster> {
    const say = o.say ?? (() => undefined);
    const ownDir = o.dir === undefined;
    const dir = o.dir ?? (await mkdtemp(join(tmpdir(), "flotilla-dev-")));
    await mkdir(dir, { recursive: true });
    let nats: OwnNats | undefined;
    if (!o.nats) {
      say("starting nats-server (installing Debian's nats-server package first if it is missing)…");
      nats = await OwnNats.start();
    }
    const natsUrl = o.nats ?? nats!.url;
    const controllers = Array.from({ length: Math.min(o.brokers, 3) }, (_, i) => i + 1).join(",");
    const nodeArgs = (process.env[BROKER_NODE_ARGS_ENV] ?? "").split(" ").filter((a) => a.length > 0);
    const brokers: DevBroker[] = [];
    const c = new DevCluster(natsUrl, o.cluster, dir, ownDir, nats, brokers, say);
    try {
      for (let id = 1; id <= o.brokers; id++) {
        const metricsPort = await freePort();
        const log = join(dir, `broker-${id}.log`);
        const fd = openSync(log, "a");
        const child = spawn(
          process.execPath,
          [...nodeArgs, CLI_PATH, "broker", "--id", String(id), "--dir", join(dir, `broker-${id}`), "--controllers", controllers, "--nats", natsUrl, "--cluster", o.cluster, "--metrics-port", String(metricsPort)],
          { stdio: ["pipe", fd, fd], detached: true, env: { ...process.env, [EXIT_WITH_PARENT_ENV]: "1", FLOTILLA_LOG_LEVEL: o.logLevel ?? process.env.FLOTILLA_LOG_LEVEL ?? "info" } },
        );
        closeSync(fd);
        c.children.set(id, child);
        c.exits.set(
          id,
          new Promise((resolve) =>
            child.once("exit", (code, signal) => {
              if (!c.stopping) {
                c.brokerFailure = `broker ${id} exited (${signal ?? `code ${code}`}); its log is ${log}`;
                say(`flotilla dev: ${c.brokerFailure}`);
              }
              resolve();
            }),
          ),
        );
        brokers.push({ id, pid: child.pid ?? 0, metricsPort, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, log });
      }
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  /**
   * Resolves once a controller leader is elected and every broker is registered, alive and
   * unfenced. Throws when a broker process dies first or the deadline passes.
   */
  async waitReady(timeoutMs = 60_000): Promise<ClusterDescription> {
    const flotilla = new Flotilla({ servers: this.natsUrl, cluster: this.cluster, clientId: "flotilla-dev", requestTimeoutMs: 2000, retry: { retries: 0 } });
    const admin = flotilla.admin();
    await admin.connect();
    const deadline = Date.now() + timeoutMs;
    let last = "no answer yet";
    try {
      for (;;) {
        if (this.brokerFailure) throw new Error(`the cluster did not come up: ${this.brokerFailure}`);
        try {
          const d = await admin.describeCluster();
          const ready = d.brokers.filter((b) => b.alive && !b.fenced).length;
          if (d.controllerLeader !== undefined && ready >= this.brokers.length) return d;
          last = `controller leader ${d.controllerLeader ?? "not elected"}, ${ready} of ${this.brokers.length} brokers registered and unfenced`;
        } catch (e) {
          last = (e as Error).message;
        }
        if (Date.now() > deadline) throw new Error(`the cluster was not ready within ${timeoutMs} ms (${last}); broker logs are in ${this.dir}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** Stops every broker (gracefully, then by force), then nats-server if it is ours. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** Last resort on a second Ctrl-C: SIGKILL the brokers now, and stop nats-server. */
  kill(): void {
    for (const child of this.children.values()) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    this.nats?.signal();
  }

  private async doStop(): Promise<void> {
    for (const child of this.children.values()) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(this.exits.values());
    const graceful = await Promise.race([all.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_GRACE_MS)))]);
    clearTimeout(timer);
    if (!graceful) {
      this.say(`flotilla dev: brokers still running after ${STOP_GRACE_MS} ms; killing them`);
      for (const child of this.children.values()) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await all;
    }
    await this.nats?.stop();
    if (this.ownDir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** nats-server, held by `dev-nats.js` in a process group of its own. */
class OwnNats {
  private constructor(
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    readonly url: string,
    readonly pid: number,
  ) {}

  static async start(): Promise<OwnNats> {
    const child = spawn(process.execPath, [DEV_NATS_PATH], { stdio: ["pipe", "pipe", "inherit"], detached: true });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const line = await Promise.race([
      new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once("line", resolve)),
      exited.then(() => Promise.reject(new Error("nats-server did not start (see the message above)"))),
    ]);
    const { url, pid } = JSON.parse(line) as { url: string; pid: number };
    return new OwnNats(child, exited, url, pid);
  }

  signal(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
  }

  async stop(): Promise<void> {
    this.signal();
    await this.exited;
  }
}

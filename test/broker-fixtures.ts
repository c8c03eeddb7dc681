/**
 * Helpers for broker tests: a nats-server, brokers (in this process or as child processes), and a
 * raw client that speaks protocol/requests.ts directly over NATS.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "nats";
import { pino } from "pino";
import { FlotillaError } from "../protocol/errors.js";
import { decodeResponse, encodeRequest, type RequestMap, type RequestType, type ResponseMap, type ResponseOf } from "../protocol/requests.js";
import { subjects } from "../protocol/subjects.js";
import { Broker, type BrokerOptions } from "../broker/server/index.js";
import { cleanup, setup, type NatsServer } from "../ops/nats-server.js";
import { BROKER_NODE_ARGS_ENV } from "../ops/dev.js";

export const CLUSTER = "brokertest";
export const testLogger = pino({ level: process.env.FLOTILLA_TEST_LOG ?? "silent" });

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value other than undefined, or throws after `ms` with the last state. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 30_000, every = 200): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms (last error: ${String((last as Error)?.message ?? last)})`);
    await sleep(every);
  }
}

/** A client speaking protocol/requests.ts over NATS, with no library in between. */
export class RawClient {
  private constructor(readonly nc: NatsConnection) {}

  static async connect(url: string): Promise<RawClient> {
    return new RawClient(await connect({ servers: url, name: "raw-test-client" }));
  }

  async send(subject: string, bytes: Uint8Array, timeoutMs = 10_000): Promise<Uint8Array> {
    const reply = await this.nc.request(subject, bytes, { timeout: timeoutMs });
    return reply.data;
  }

  async call<K extends RequestType>(type: K, subject: string, request: RequestMap[K], timeoutMs = 10_000): Promise<ResponseOf<K>> {
    return decodeResponse(type, await this.send(subject, encodeRequest(type, request), timeoutMs));
  }

  /** Like `call`, but an error reply throws it. */
  async ok<K extends RequestType>(type: K, subject: string, request: RequestMap[K], timeoutMs = 10_000): Promise<ResponseMap[K]> {
    const res = await this.call(type, subject, request, timeoutMs);
    if (res.error) throw FlotillaError.fromWire(res.error);
    return res as ResponseMap[K];
  }

  admin<K extends RequestType>(type: K, request: RequestMap[K], timeoutMs = 10_000): Promise<ResponseMap[K]> {
    return this.ok(type, subjects.admin(CLUSTER), request, timeoutMs);
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}

export interface TestNats {
  server: NatsServer;
  dir: string;
  close(): Promise<void>;
}

export async function natsAndDir(): Promise<TestNats> {
  const server = await setup();
  const dir = await mkdtemp(join(tmpdir(), "flotilla-broker-test-"));
  return {
    server,
    dir,
    async close() {
      await cleanup(server);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function brokerOptions(env: TestNats, id: number, controllers: number[], extra: Partial<BrokerOptions> = {}): BrokerOptions {
  return { id, dir: join(env.dir, `broker-${id}`), controllers, nats: env.server.url, cluster: CLUSTER, logger: testLogger, ...extra };
}

export async function startBrokers(env: TestNats, ids: number[], extra: Partial<BrokerOptions> = {}): Promise<Broker[]> {
  return Promise.all(ids.map((id) => Broker.start(brokerOptions(env, id, ids, extra))));
}

const MAIN = fileURLToPath(new URL("../broker/server/main.js", import.meta.url));

/** A broker as a child process (`node dist/broker/server/main.js …`), killable with any signal. */
export class BrokerProcessHandle {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();

  constructor(
    readonly env: TestNats,
    readonly id: number,
    readonly controllers: number[],
  ) {}

  start(): void {
    // The same hook as `flotilla dev` (e.g. `--cpu-prof --cpu-prof-dir=D`; Node refuses it in NODE_OPTIONS).
    const nodeArgs = (process.env[BROKER_NODE_ARGS_ENV] ?? "").split(" ").filter((a) => a.length > 0);
    const args = [...nodeArgs, MAIN, "--id", String(this.id), "--dir", join(this.env.dir, `broker-${this.id}`), "--controllers", this.controllers.join(","), "--nats", this.env.server.url, "--cluster", CLUSTER];
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", process.env.FLOTILLA_TEST_LOG ? "inherit" : "ignore", "inherit"],
      env: { ...process.env, FLOTILLA_LOG_LEVEL: process.env.FLOTILLA_TEST_LOG ?? "warn" },
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.running()) this.child!.kill(signal);
    await this.exited;
  }

  /**
   * SIGTERM (leaderships handed away), a second SIGTERM (exit at once) after `graceMs`, SIGKILL
   * last: the broker exits through process.exit, so `--cpu-prof` gets to write its profile.
   */
  async stop(graceMs = 5000): Promise<void> {
    for (const signal of ["SIGTERM", "SIGTERM", "SIGKILL"] as const) {
      if (!this.running()) break;
      this.child!.kill(signal);
      await Promise.race([this.exited, sleep(graceMs)]);
    }
    await this.exited;
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
}

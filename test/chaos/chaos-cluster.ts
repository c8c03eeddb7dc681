/**
 * The cluster the chaos suite tortures: its own nats-server and N `flotilla broker --fault-control`
 * processes (controllers 1..min(N, 3)), each of which the nemesis may kill -9, restart, pause and
 * resume, or whose Raft traffic it may cut through the broker's fault control.
 *
 * Broker output goes to `<dir>/broker-N.log`, appended across restarts. Each broker gets a stdin
 * pipe and FLOTILLA_EXIT_WITH_PARENT (as `flotilla dev` does), so none outlives this process. A
 * broker that exits without the nemesis killing it is recorded in `crashes`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import { subjects } from "../../protocol/subjects.js";
import { decodeFaultReply, encodeFaultMessage, type FaultCommand } from "../../broker/server/fault-control-messages.js";
import { CLI_PATH, EXIT_WITH_PARENT_ENV } from "../../ops/dev.js";
import { setup, type NatsServer } from "../../ops/nats-server.js";
import { unexpectedExit } from "./broker-exit.js";

const FAULT_REPLY_TIMEOUT_MS = 5000;

interface BrokerProcess {
  child: ChildProcess;
  exited: Promise<void>;
  /** Set before the nemesis kills (any exit is expected) or stops it (a clean exit, 0, is expected). */
  stopping: "kill" | "term" | undefined;
  paused: boolean;
}

/** How long a SIGTERM-ed broker gets to hand off and exit before it counts as hung and is killed. */
const GRACEFUL_STOP_MS = 20_000;

export class ChaosCluster {
  private readonly processes = new Map<number, BrokerProcess>();
  /** Brokers that exited by themselves: what, for the report. */
  readonly crashes: string[] = [];
  private stopping = false;

  private constructor(
    readonly nats: NatsServer,
    private readonly control: NatsConnection,
    readonly dir: string,
    readonly cluster: string,
    readonly ids: number[],
    private readonly logLevel: string,
  ) {}

  static async start(o: { brokers: number; dir: string; cluster: string; logLevel: string }): Promise<ChaosCluster> {
    const nats = await setup();
    const control = await connect({ servers: nats.url, name: "chaos-nemesis" });
    const ids = Array.from({ length: o.brokers }, (_, i) => i + 1);
    const c = new ChaosCluster(nats, control, o.dir, o.cluster, ids, o.logLevel);
    for (const id of ids) c.startBroker(id);
    return c;
  }

  get controllers(): number[] {
    return this.ids.slice(0, 3);
  }

  isRunning(id: number): boolean {
    const p = this.processes.get(id);
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  isPaused(id: number): boolean {
    return this.processes.get(id)?.paused ?? false;
  }

  startBroker(id: number): void {
    if (this.isRunning(id)) throw new Error(`broker ${id} is already running`);
    const log = join(this.dir, `broker-${id}.log`);
    const fd = openSync(log, "a");
    const logStart = fstatSync(fd).size;
    const args = [CLI_PATH, "broker", "--id", String(id), "--dir", join(this.dir, `broker-${id}`), "--controllers", this.controllers.join(","), "--nats", this.nats.url, "--cluster", this.cluster, "--fault-control"];
    const child = spawn(process.execPath, args, { stdio: ["pipe", fd, fd], env: { ...process.env, [EXIT_WITH_PARENT_ENV]: "1", FLOTILLA_LOG_LEVEL: this.logLevel } });
    closeSync(fd);
    const p: BrokerProcess = { child, stopping: undefined, paused: false, exited: Promise.resolve() };
    p.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        const what = unexpectedExit({ stopping: p.stopping, code, signal, loggedBytes: statSync(log).size - logStart }, this.stopping);
        if (what) this.crashes.push(`broker ${id} ${what}; see ${log}`);
        resolve();
      }),
    );
    this.processes.set(id, p);
  }

  async kill(id: number): Promise<void> {
    const p = this.processes.get(id);
    if (!p || !this.isRunning(id)) return;
    p.stopping = "kill";
    p.child.kill("SIGKILL");
    await p.exited;
    p.paused = false;
  }

  /** SIGTERM: the broker hands its leaderships away and exits 0 (a hang or another exit is a crash). */
  async stopGracefully(id: number): Promise<void> {
    const p = this.processes.get(id);
    if (!p || !this.isRunning(id) || p.paused) return;
    p.stopping = "term";
    p.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      this.crashes.push(`broker ${id} was still running ${GRACEFUL_STOP_MS} ms after SIGTERM`);
      p.child.kill("SIGKILL");
    }, GRACEFUL_STOP_MS);
    await p.exited;
    clearTimeout(timer);
  }

  pause(id: number): void {
    const p = this.processes.get(id);
    if (!p || !this.isRunning(id)) return;
    p.child.kill("SIGSTOP");
    p.paused = true;
  }

  resume(id: number): void {
    const p = this.processes.get(id);
    if (!p || !this.isRunning(id)) return;
    p.child.kill("SIGCONT");
    p.paused = false;
  }

  /** Sends a fault command to one broker and waits for its answer; throws when it cannot be delivered. */
  async fault(id: number, command: FaultCommand): Promise<void> {
    const reply = await this.control.request(subjects.faultControl(this.cluster, id), encodeFaultMessage(command), { timeout: FAULT_REPLY_TIMEOUT_MS });
    decodeFaultReply(reply.data);
  }

  /** Sends a fault command to every running, unpaused broker; returns the brokers that did not confirm. */
  async faultAll(command: FaultCommand): Promise<number[]> {
    const live = this.ids.filter((id) => this.isRunning(id) && !this.isPaused(id));
    const results = await Promise.allSettled(live.map((id) => this.fault(id, command)));
    return live.filter((_, i) => results[i].status === "rejected");
  }

  /** Every broker running, unpaused, with no faults (a broker started now has none). */
  async heal(): Promise<number[]> {
    for (const id of this.ids) if (this.isPaused(id)) this.resume(id);
    const unconfirmed = await this.faultAll({ type: "reset" });
    for (const id of this.ids) if (!this.isRunning(id)) this.startBroker(id);
    return unconfirmed;
  }

  /** Kills every broker (no graceful stop: the run is over) and stops nats-server. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const id of this.ids) {
      if (this.isPaused(id)) this.resume(id);
      await this.kill(id);
    }
    await this.control.close().catch(() => undefined);
    await this.nats.stop();
  }
}

/**
 * The nemesis: one fault at a time, chosen by a PRNG seeded from the run's seed, until the
 * deadline. Each fault is injected, held for a few seconds, then healed; a short calm follows.
 *
 * Faults (the key is the name counted in the report):
 * - kill: kill -9 a broker, restart it after a while (its disk as the kill left it);
 * - killMany: kill -9 two brokers or more (up to all) at once, restart them together;
 * - restart: SIGTERM a broker (it hands its leaderships away and must exit 0), start it again;
 * - pause: SIGSTOP a broker for longer than an election timeout, then SIGCONT;
 * - isolate: cut one broker's Raft traffic from every other broker, both ways;
 * - split: cut the brokers into two random sides;
 * - oneWay: one broker can still hear the others but not reach them (or the reverse);
 * - degrade: every broker loses, duplicates and delays some of its Raft messages;
 * - transferLeader, rebalance, reassign, cancelReassign: an operator's moves (operator-moves.ts);
 * - rejoin: a consumer group member leaves and a new one joins (group-consumers.ts).
 * The broker hit is the leader of a random partition, the controller leader, or any broker.
 *
 * The schedule is the seed's; what the cluster does meanwhile depends on timing, so a seed replays
 * the same faults in the same order, not the same history.
 */
import type { Admin } from "../../client/index.js";
import { Rng } from "../../broker/sim/rng.js";
import type { ChaosCluster } from "./chaos-cluster.js";
import type { GroupConsumers } from "./group-consumers.js";
import type { MoveDraws, OperatorMove, OperatorMoves } from "./operator-moves.js";

export const FAULT_KINDS = ["kill", "killMany", "restart", "pause", "isolate", "split", "oneWay", "degrade", "transferLeader", "rebalance", "reassign", "cancelReassign", "rejoin"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Timing of the faults, in ms. An election takes 1-2 s with the broker defaults (100 ms ticks, 10-20 ticks). */
const HOLD_MS: Record<FaultKind, [number, number]> = {
  kill: [500, 4000],
  killMany: [500, 3000],
  restart: [0, 2000],
  pause: [2500, 5000],
  isolate: [2000, 6000],
  split: [2000, 6000],
  oneWay: [2000, 5000],
  degrade: [3000, 6000],
  // How long an operator's move runs alone before the next fault hits it.
  transferLeader: [500, 2000],
  rebalance: [500, 2000],
  reassign: [1000, 4000],
  cancelReassign: [500, 2000],
  rejoin: [500, 2000],
};
const CALM_MS: [number, number] = [500, 1500];
const HEAL_ATTEMPTS = 5;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Nemesis {
  readonly counts: Record<string, number> = {};
  private readonly rng: Rng;
  private stopped = false;

  constructor(
    seed: number,
    /** The kinds to choose from (default all). */
    private readonly kinds: readonly FaultKind[],
    private readonly cluster: ChaosCluster,
    private readonly admin: Admin,
    private readonly operator: OperatorMoves,
    private readonly group: GroupConsumers,
    private readonly topic: string,
    private readonly say: (line: string) => void,
  ) {
    this.rng = new Rng(seed);
  }

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  /** Injects faults until `deadline` (ms since the epoch) or `stop()`. */
  async run(deadline: number): Promise<void> {
    while (!this.stopped && Date.now() < deadline) {
      const kind = this.rng.pick(this.kinds);
      const hold = this.rng.range(...HOLD_MS[kind]);
      const target = await this.target();
      const draws = { partition: this.rng.float(), replica: this.rng.float(), brokers: this.rng.shuffle([...this.cluster.ids]) };
      let done: string = kind;
      if (kind === "transferLeader" || kind === "rebalance" || kind === "reassign" || kind === "cancelReassign") {
        done = await this.operator.act(kind, draws);
        await sleep(hold);
      } else if (kind === "rejoin") {
        await this.group.rejoin(draws.partition, this.say);
        await sleep(hold);
      } else {
        await this.inject(kind, target, draws, hold);
      }
      this.counts[done] = (this.counts[done] ?? 0) + 1;
      await sleep(this.rng.range(...CALM_MS));
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private async inject(kind: Exclude<FaultKind, OperatorMove | "rejoin">, target: number, draws: MoveDraws, hold: number): Promise<void> {
    const c = this.cluster;
    const others = c.ids.filter((id) => id !== target);
    switch (kind) {
      case "kill":
      case "killMany":
      case "restart": {
        const victims = kind === "killMany" ? draws.brokers.slice(0, 2 + Math.floor(draws.replica * (c.ids.length - 1))) : [target];
        this.say(`nemesis: ${kind === "restart" ? "graceful stop of" : "kill -9"} broker${victims.length > 1 ? "s" : ""} ${victims.join(",")}, start again in ${hold} ms`);
        await Promise.all(victims.map((v) => (kind === "restart" ? c.stopGracefully(v) : c.kill(v))));
        await sleep(hold);
        for (const v of victims) if (!c.isRunning(v)) c.startBroker(v);
        return;
      }
      case "pause":
        this.say(`nemesis: pause broker ${target} for ${hold} ms`);
        c.pause(target);
        await sleep(hold);
        c.resume(target);
        return;
      case "isolate":
        return this.network(`isolate broker ${target}`, { type: "partition", sides: [[target], others] }, hold);
      case "split": {
        const shuffled = this.rng.shuffle([...c.ids]);
        const cut = this.rng.range(1, Math.floor(c.ids.length / 2));
        const sides = [shuffled.slice(0, cut), shuffled.slice(cut)];
        return this.network(`split ${JSON.stringify(sides)}`, { type: "partition", sides }, hold);
      }
      case "oneWay":
        return this.rng.chance(0.5)
          ? this.network(`broker ${target} cannot reach the others`, { type: "blockOneWay", from: [target], to: others }, hold)
          : this.network(`broker ${target} cannot hear the others`, { type: "blockOneWay", from: others, to: [target] }, hold);
      case "degrade": {
        const dropRate = this.rng.range(5, 30) / 100;
        return this.network(`degrade: ${Math.round(dropRate * 100)}% loss, 5% duplicates, 0-40 ms delay`, { type: "degrade", dropRate, duplicateRate: 0.05, delayMs: [0, 40] }, hold);
      }
    }
  }

  private async network(what: string, command: Parameters<ChaosCluster["fault"]>[1], hold: number): Promise<void> {
    this.say(`nemesis: ${what} for ${hold} ms`);
    const missed = await this.cluster.faultAll(command);
    if (missed.length > 0) this.say(`nemesis: brokers ${missed.join(",")} did not confirm the fault`);
    await sleep(hold);
    for (let attempt = 1; ; attempt++) {
      const unhealed = await this.cluster.faultAll({ type: "reset" });
      if (unhealed.length === 0) return;
      this.say(`nemesis: brokers ${unhealed.join(",")} did not confirm the heal (attempt ${attempt})`);
      if (attempt === HEAL_ATTEMPTS) throw new Error(`brokers ${unhealed.join(",")} did not confirm the heal after ${HEAL_ATTEMPTS} attempts`);
    }
  }

  /** The leader of a random partition, the controller leader, or a random broker. */
  private async target(): Promise<number> {
    // Every draw is made whatever the cluster answers, so the schedule stays the seed's.
    const roll = this.rng.int(3);
    const partitionPick = this.rng.float();
    const anyBroker = this.rng.pick(this.cluster.ids);
    try {
      if (roll === 0) {
        const { partitions } = await this.admin.describeTopic(this.topic);
        const leader = partitions[Math.floor(partitionPick * partitions.length)].leader;
        if (leader !== undefined) return leader;
      } else if (roll === 1) {
        const leader = (await this.admin.describeCluster()).controllerLeader;
        if (leader !== undefined) return leader;
      }
    } catch {
      // No answer (the cluster is mid-fault): any broker will do.
    }
    return anyBroker;
  }
}

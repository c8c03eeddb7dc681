import { RELIABLE } from "./network.js";
import type { Cluster } from "./cluster.js";
import type { SimNode } from "./node.js";
import type { Profile } from "./profile.js";
import type { Rng } from "./rng.js";

/**
 * The hostile part of the world: crashes (which lose unsynced writes), restarts, and partitions,
 * symmetric or one-way. During a fault phase they strike at the profile's rates; `heal()` ends them
 * all at once so that liveness can be measured from a clean start.
 */
export class Faults {
  private readonly restartAt = new Map<number, number>();
  /** Crashes scheduled by the hooks below, by id: when, and for how long the node stays down. */
  private readonly crashAt = new Map<number, { at: number; down: number; dropSent: boolean }>();

  constructor(
    private readonly cluster: Cluster,
    private readonly profile: Profile,
    private readonly rng: Rng,
  ) {}

  /** Starts a fault phase: the network turns hostile again. */
  unleash(): void {
    this.cluster.network.setFaults(this.profile.net);
  }

  /** One tick of a fault phase. */
  tick(): void {
    const c = this.cluster;
    // Crashes first, so that a node given no downtime reboots within the same tick.
    for (const [id, { at, down, dropSent }] of this.crashAt) {
      if (at > c.now) continue;
      this.crashAt.delete(id);
      const n = c.nodes.get(id);
      if (n !== undefined && n.up) this.crash(n, down, dropSent);
    }
    for (const [id, at] of this.restartAt) {
      if (at > c.now) continue;
      this.restartAt.delete(id);
      const n = c.nodes.get(id);
      if (n !== undefined && !n.up && !c.retired.has(id)) c.restart(n);
    }
    if (c.network.healExpired(c.now)) {
      c.trace.note(c.now, "partition healed");
    }
    if (this.rng.chance(this.profile.crashRate)) this.crashSomeone();
    if (!c.network.partitioned && this.rng.chance(this.profile.partitionRate)) this.partition();
  }

  /**
   * A fresh leader may be crashed before it replicates much: the Figure 8 shape, where an old
   * term's entry sits on a minority when the next leader takes over.
   */
  leaderElected(n: SimNode): void {
    if (this.rng.chance(this.profile.freshLeaderCrash)) this.scheduleCrash(n, this.rng.range(0, 2), this.downTicks(), true);
    // Cut off before its first App arrives anywhere, its no-op stays on its own disk alone.
    if (this.rng.chance(this.profile.freshLeaderIsolate)) this.isolate(n, "fresh leader");
  }

  /**
   * A leader's commit index moved for the first time in its term. Cutting it off now strands
   * whatever it sent next: with `commit-old-term` that is the no-op which would have made the
   * earlier term's entry it just committed safe (the Figure 8 shape).
   */
  leaderCommitted(n: SimNode): void {
    // The crash waits for the end of the tick: the node is in the middle of handling a Ready.
    if (this.rng.chance(this.profile.firstCommitCrash)) this.scheduleCrash(n, 0, this.downTicks(), true);
    else if (this.rng.chance(this.profile.freshLeaderIsolate)) this.isolate(n, "leader after its first commit");
  }

  /**
   * A node just granted its vote; crashing it before the vote's fsync completes is the window in
   * which a node that answers before persisting (`no-persist-vote`) forgets whom it voted for.
   */
  voted(n: SimNode): void {
    // Its reply is on the wire, its fsync is not; rebooted at once (a supervisor), it is back in
    // time for another candidate's request, or a late copy of one.
    if (this.rng.chance(this.profile.voterCrash)) this.scheduleCrash(n, 0, 0, false);
  }

  /**
   * A membership change was applied somewhere for the first time: nodes disagree on the voters
   * until all have applied it, which is when a random split can leave two majorities (of the old
   * and of the new voters) that do not overlap, if the core ever lets them act alone.
   */
  membershipChanged(): void {
    if (!this.rng.chance(this.profile.confPartition)) return;
    const c = this.cluster;
    const ids = [...c.nodes.keys()].filter((id) => !c.retired.has(id));
    if (ids.length < 2) return;
    const until = c.now + this.rng.range(5, this.profile.maxPartitionTicks);
    c.trace.note(c.now, `partition at a membership change: ${this.split(ids, until)} until t=${until}`);
  }

  private split(ids: readonly number[], until: number): string {
    const shuffled = this.rng.shuffle([...ids]);
    const k = this.rng.range(1, shuffled.length - 1);
    this.cluster.network.partition([shuffled.slice(0, k), shuffled.slice(k)], until);
    return `split [${shuffled.slice(0, k).join(",")}] | [${shuffled.slice(k).join(",")}]`;
  }

  /** Cuts every link of `n`, both ways, on top of any partition already in place. */
  private isolate(n: SimNode, why: string): void {
    const c = this.cluster;
    const others = [...c.nodes.keys()].filter((id) => id !== n.id && !c.retired.has(id));
    const until = c.now + this.rng.range(5, this.profile.maxPartitionTicks);
    c.network.partition([[n.id], others], until);
    c.trace.note(c.now, `isolate ${n.id} (${why}) until t=${until}`);
  }

  /** Everything back to normal: every node up, every link restored, no loss or duplication. */
  heal(): void {
    const c = this.cluster;
    this.restartAt.clear();
    this.crashAt.clear();
    c.network.heal();
    c.network.setFaults({ ...RELIABLE, maxDelay: this.profile.net.maxDelay });
    for (const n of c.nodes.values()) if (!n.up && !c.retired.has(n.id)) c.restart(n);
    c.trace.note(c.now, "heal: all nodes up, network reliable");
  }

  private crashSomeone(): void {
    const c = this.cluster;
    const up = c.members().map((id) => c.nodes.get(id)).filter((n): n is SimNode => n !== undefined && n.up);
    if (up.length === 0) return;
    const r = this.rng.float();
    let victim: SimNode | undefined;
    if (r < 0.3) victim = c.leader();
    else if (r < 0.6) {
      // A node with writes in its fsync window loses them: where unpersisted votes get forgotten.
      const unsynced = up.filter((n) => n.disk.pending > 0);
      if (unsynced.length > 0) victim = this.rng.pick(unsynced);
    }
    this.crash(victim ?? this.rng.pick(up));
  }

  private scheduleCrash(n: SimNode, inTicks: number, down: number, dropSent: boolean): void {
    this.crashAt.set(n.id, { at: this.cluster.now + inTicks, down, dropSent });
  }

  private downTicks(): number {
    return this.rng.range(1, this.profile.maxDownTicks);
  }

  private crash(n: SimNode, down = this.downTicks(), dropSent = this.rng.chance(0.5)): void {
    this.cluster.crash(n, dropSent);
    this.restartAt.set(n.id, this.cluster.now + down);
  }

  private partition(): void {
    const c = this.cluster;
    const ids = [...c.nodes.keys()].filter((id) => !c.retired.has(id));
    if (ids.length < 2) return;
    const leader = c.leader()?.id ?? this.rng.pick(ids);
    const until = c.now + this.rng.range(5, this.profile.maxPartitionTicks);
    const shape = this.rng.int(4);
    let what: string;
    if (shape === 0) {
      const lone = this.rng.chance(0.5) ? leader : this.rng.pick(ids);
      c.network.partition([[lone], ids.filter((id) => id !== lone)], until);
      what = `isolate ${lone}`;
    } else if (shape === 1) {
      what = this.split(ids, until);
    } else if (shape === 2) {
      // One-way: the node still hears the others (or is still heard) but not the other way round.
      const x = this.rng.chance(0.5) ? leader : this.rng.pick(ids);
      const outbound = this.rng.chance(0.5);
      for (const id of ids) if (id !== x) outbound ? c.network.cutLink(x, id, until) : c.network.cutLink(id, x, until);
      what = `one-way: ${x} ${outbound ? "cannot send" : "cannot hear"}`;
    } else {
      // A bridge: two nodes cannot talk to each other but both still reach the rest.
      const [a, b] = this.rng.shuffle([...ids]);
      c.network.partition([[a], [b]], until);
      what = `bridge: ${a} x ${b}`;
    }
    c.trace.note(c.now, `partition ${what} until t=${until}`);
  }
}

import { ConfChangeType, type ConfChange, type ConfChangeSingle } from "../../protocol/raft.js";
import { StateRole } from "../raft/types.js";
import type { Cluster } from "./cluster.js";
import { encodeId, type SimNode } from "./node.js";
import type { Profile } from "./profile.js";
import type { Rng } from "./rng.js";

/** "auto" twice: it is the one a core that skips the joint phase (`single-step-joint`) gets wrong. */
const TRANSITIONS = ["auto", "auto", "joint-implicit", "joint-explicit"] as const;
/** Ticks between client proposals in a heal phase. */
const HEAL_PROPOSE_EVERY = 4;

/**
 * fault: faults and operators at work; heal: the cluster must elect a leader and commit a fresh
 * proposal; settle: every member must apply it with no proposal after it, so that only heartbeats
 * can bring a follower the last commit index (what a lazily propagated commit relies on).
 */
export type Phase = "fault" | "heal" | "settle";

/**
 * What the outside world asks of the cluster: clients proposing unique payloads and reading all the
 * time, operators changing membership and moving leadership, and nodes snapshotting their state.
 * Membership changes and transfers happen only in fault phases, in flight with the faults.
 */
export class Workload {
  /** Next client proposal id; ids are issued in order, so "proposed after t" is "id ≥ n". */
  nextProposal = 1;
  private nextRead = 1;
  /** Nodes started for an add that has not yet taken effect. */
  private spares: SimNode[] = [];
  /** Removed nodes waiting until every member has applied their removal, with its index. */
  private readonly leaving = new Map<number, number>();
  private seenConfIndex = 0;
  private seenMembers: number[];
  private readonly everMember = new Set<number>();
  /** A new leader an operator retries its membership change on. */
  private retryOn: SimNode | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly profile: Profile,
    private readonly rng: Rng,
  ) {
    this.seenMembers = cluster.members();
  }

  tick(phase: Phase): void {
    const p = this.profile;
    const faultPhase = phase === "fault";
    // While the cluster recovers, clients propose at a slow steady pace: slow so that a healed
    // cluster can drain its backlog, steady so that liveness never waits on a lucky draw.
    if (faultPhase ? this.rng.chance(p.proposeRate) : phase === "heal" && this.cluster.now % HEAL_PROPOSE_EVERY === 0) this.propose();
    if (this.rng.chance(p.readRate)) this.read();
    if (this.rng.chance(p.snapshotRate)) this.snapshot();
    if (this.retryOn !== undefined) {
      if (faultPhase && this.retryOn.role === StateRole.Leader) this.changeMembership(this.retryOn);
      this.retryOn = undefined;
    }
    if (faultPhase && this.rng.chance(p.confRate)) {
      const leader = this.cluster.leader();
      if (leader !== undefined) this.changeMembership(leader);
    }
    if (faultPhase && this.rng.chance(p.transferRate)) this.transfer();
    this.retireRemoved();
  }

  private propose(): void {
    const target = this.clientTarget();
    if (target === undefined) return;
    const id = this.nextProposal++;
    target.try((raw) => raw.propose(encodeId(id)));
  }

  private read(): void {
    const target = this.clientTarget();
    if (target === undefined) return;
    const id = this.nextRead++;
    const checker = this.cluster.checker;
    checker.readStarted(id);
    target.waitingReads.add(id);
    // The ReadState may come back at once (a lease read), so the read is registered first.
    if (!target.try((raw) => raw.readIndex(encodeId(id)))) {
      target.waitingReads.delete(id);
      checker.readAbandoned(id);
    }
  }

  /** Mostly the leader, sometimes any live member (followers forward proposals and reads). */
  private clientTarget(): SimNode | undefined {
    const c = this.cluster;
    const leader = c.leader();
    if (leader !== undefined && this.rng.chance(0.8)) return leader;
    const ids = c.members().filter((id) => c.nodes.get(id)?.up === true);
    return ids.length === 0 ? undefined : c.nodes.get(this.rng.pick(ids));
  }

  private snapshot(): void {
    const c = this.cluster;
    const up = [...c.nodes.values()].filter((n) => n.up);
    if (up.length === 0) return;
    const n = this.rng.pick(up);
    if (n.compact(this.rng.pick([0, 2, 10]))) c.trace.note(c.now, `node ${n.id} snapshots at ${n.sm.index}`);
  }

  private transfer(): void {
    const c = this.cluster;
    const leader = c.leader();
    if (leader === undefined) return;
    const others = c.conf.voters.filter((id) => id !== leader.id);
    if (others.length === 0) return;
    const to = this.rng.pick(others);
    c.trace.note(c.now, `transfer leadership ${leader.id} -> ${to}`);
    leader.try((raw) => raw.transferLeader(to));
  }

  /**
   * An operator whose change was interrupted by a leader change retries it on the new leader at
   * once, before that leader has committed anything of its own term: the window of Ongaro's
   * single-server membership bug (`conf-before-noop`).
   */
  leaderElected(leader: SimNode): void {
    // Deferred to this tick's workload: the leader is in the middle of handling a Ready.
    if (this.rng.chance(this.profile.confOnElection)) this.retryOn = leader;
  }

  private changeMembership(leader: SimNode): void {
    const c = this.cluster;
    const conf = c.conf;
    if (conf.votersOutgoing.length > 0) {
      // Joint and not leaving on its own: the operator leaves explicitly.
      if (!conf.autoLeave) this.proposeConf(leader, { changes: [], transition: "auto" }, "leave joint");
      return;
    }
    const n = c.options.nodes;
    const voters = conf.voters;
    const learners = conf.learners;
    const ops: (() => void)[] = [];
    if (c.members().length < n + 2) ops.push(() => this.addLearner(leader));
    if (learners.length > 0) {
      ops.push(() => this.proposeSimple(leader, ConfChangeType.AddNode, this.rng.pick(learners), "promote"));
      ops.push(() => this.proposeSimple(leader, ConfChangeType.RemoveNode, this.rng.pick(learners), "remove learner"));
    }
    if (voters.length > Math.max(3, n - 1)) {
      ops.push(() => this.proposeSimple(leader, ConfChangeType.RemoveNode, this.rng.pick(voters), "remove voter"));
    }
    ops.push(() => this.replace(leader));
    this.rng.pick(ops)();
  }

  private addLearner(leader: SimNode): void {
    const [node] = this.sparesFor(1, leader);
    this.proposeSimple(leader, ConfChangeType.AddLearner, node.id, "add learner");
  }

  /**
   * Swaps one or two voters (possibly the leader) jointly. Mostly for learners, as a reassignment
   * does; sometimes for brand-new nodes, which then hold up every commit of the joint config until
   * they have caught up from nothing (a shape where voters disagree a long time on the membership).
   */
  private replace(leader: SimNode): void {
    const conf = this.cluster.conf;
    const fresh = this.rng.chance(0.3);
    const k = (fresh || conf.learners.length >= 2) && conf.voters.length >= 3 && this.rng.chance(0.6) ? 2 : 1;
    if (!fresh && conf.learners.length < k) return;
    const out = this.rng.shuffle([...conf.voters]).slice(0, k);
    const fromLearners = this.rng.shuffle([...conf.learners]).slice(0, k);
    const incoming = [...fromLearners, ...this.sparesFor(k - fromLearners.length, leader).map((s) => s.id)];
    const changes: ConfChangeSingle[] = [];
    for (let i = 0; i < k; i++) {
      changes.push({ type: ConfChangeType.AddNode, nodeId: incoming[i] });
      changes.push({ type: ConfChangeType.RemoveNode, nodeId: out[i] });
    }
    this.proposeConf(leader, { changes, transition: this.rng.pick(TRANSITIONS) }, `replace [${out.join(",")}] by [${incoming.join(",")}]`);
  }

  private proposeSimple(leader: SimNode, type: ConfChangeType, nodeId: number, what: string): void {
    this.proposeConf(leader, { changes: [{ type, nodeId }], transition: "auto" }, `${what} ${nodeId}`);
  }

  private proposeConf(leader: SimNode, cc: ConfChange, what: string): void {
    const ok = leader.try((raw) => raw.proposeConfChange(cc));
    this.cluster.trace.note(this.cluster.now, `propose conf change on ${leader.id}: ${what} (${cc.transition})${ok ? "" : " dropped"}`);
  }

  /**
   * `k` nodes that have never been members, started as needed (a removed node never comes back).
   * The leader snapshots first, as an operator would before a reassignment: a newcomer then starts
   * from a recent snapshot instead of replaying a long log one small App at a time.
   */
  private sparesFor(k: number, leader: SimNode): SimNode[] {
    if (k > 0) leader.compact(0);
    for (const id of this.cluster.members()) this.everMember.add(id);
    this.spares = this.spares.filter((s) => !this.everMember.has(s.id));
    while (this.spares.length < k) this.spares.push(this.cluster.spawnNode());
    return this.spares.slice(0, k);
  }

  /**
   * A removed node is shut down once every member has applied its removal: until then a member that
   * has not may still need its vote or acknowledgement (a joint config still counts it).
   */
  private retireRemoved(): void {
    const c = this.cluster;
    if (c.confIndex !== this.seenConfIndex) {
      const now = new Set(c.members());
      for (const id of this.seenMembers) if (!now.has(id)) this.leaving.set(id, c.confIndex);
      for (const id of now) {
        this.leaving.delete(id);
        this.everMember.add(id);
      }
      this.seenMembers = [...now];
      this.seenConfIndex = c.confIndex;
    }
    for (const [id, index] of this.leaving) {
      const caughtUp = this.seenMembers.every((m) => {
        const n = c.nodes.get(m);
        return n !== undefined && n.up && n.sm.index >= index;
      });
      if (!caughtUp) continue;
      this.leaving.delete(id);
      const n = c.nodes.get(id);
      if (n !== undefined) c.retire(n);
    }
  }
}

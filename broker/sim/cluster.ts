import { EntryType, emptyConfState, type ConfState, type Entry, type Message } from "../../protocol/raft.js";
import { MemoryStorage } from "../raft/memory-storage.js";
import { StateRole, type RaftConfig } from "../raft/types.js";
import { Checker } from "./checker.js";
import { Network } from "./network.js";
import { decodeId, SimNode, type NodeHost } from "./node.js";
import type { Profile, SimOptions } from "./profile.js";
import type { Rng } from "./rng.js";
import { Trace } from "./trace.js";

/** Counters a run reports. */
export interface Counters {
  committed: number;
  reads: number;
  confChanges: number;
  snapshots: number;
}

/**
 * The simulated cluster: the nodes, the network between them, the checker watching them, and the
 * membership as the replicated log has decided it. It owns simulated time; one `step()` is one tick.
 */
export class Cluster implements NodeHost {
  now = 0;
  readonly checker = new Checker();
  readonly trace = new Trace();
  readonly network: Network;
  /** Every node ever started, by id (insertion order = id order, so iteration is deterministic). */
  readonly nodes = new Map<number, SimNode>();
  /** Nodes removed from the group and shut down for good. */
  readonly retired = new Set<number>();
  /** The newest membership applied anywhere, and the index of its ConfChange entry. */
  conf: ConfState;
  confIndex = 0;
  readonly counters: Counters = { committed: 0, reads: 0, confChanges: 0, snapshots: 0 };
  /** Highest index whose client payload has been counted as committed. */
  private countedIndex = 0;
  /** Called with a client proposal id and its index when it is applied for the first time. */
  onProposalCommitted: (proposalId: number, index: number) => void = () => {};
  /** Called when a node becomes leader, and when it first commits as leader. */
  onLeader: (node: SimNode) => void = () => {};
  onLeaderCommit: (node: SimNode) => void = () => {};
  /** Called when a membership change is applied for the first time anywhere. */
  onMembershipChange: () => void = () => {};
  /** Called when a node grants a vote. */
  onVote: (node: SimNode) => void = () => {};
  private nextId: number;

  constructor(
    readonly options: SimOptions,
    readonly profile: Profile,
    private readonly rng: Rng,
  ) {
    this.network = new Network(rng.fork(), profile.net);
    const voters = Array.from({ length: options.nodes }, (_, i) => i + 1);
    this.conf = { ...emptyConfState(), voters };
    for (const id of voters) this.addNode(id, MemoryStorage.bootstrap({ ...emptyConfState(), voters: [...voters] }));
    this.nextId = options.nodes + 1;
  }

  /** Creates a node that is not yet a member: it waits, empty, for the leader to add it. */
  spawnNode(): SimNode {
    return this.addNode(this.nextId++, new MemoryStorage());
  }

  members(): number[] {
    const c = this.conf;
    const ids = new Set<number>([...c.voters, ...c.votersOutgoing, ...c.learners, ...c.learnersNext]);
    return [...ids].sort((a, b) => a - b);
  }

  /** The node that believes it leads the highest term, if any is up. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.up && n.role === StateRole.Leader && (best === undefined || n.term > best.term)) best = n;
    }
    return best;
  }

  /** One tick: deliver due messages, complete due fsyncs, tick every live core. */
  step(): void {
    const now = ++this.now;
    for (const m of this.network.due(now)) {
      const n = this.nodes.get(m.to);
      if (n === undefined || !n.up) continue;
      this.trace.message(now, m);
      n.step(m);
    }
    for (const n of this.nodes.values()) n.flushDisk();
    for (const n of this.nodes.values()) n.tick();
  }

  /** Members (voters and learners) that have not applied `index` yet. */
  lagging(index: number): number[] {
    return this.members().filter((id) => (this.nodes.get(id)?.sm.index ?? 0) < index);
  }

  /** One line per node that is not retired: what a reader of a failure report needs first. */
  describe(): string[] {
    const out: string[] = [];
    for (const n of this.nodes.values()) {
      if (this.retired.has(n.id)) continue;
      if (n.raw === undefined) {
        out.push(`node ${n.id}: down`);
        continue;
      }
      const st = n.raw.status();
      const hs = st.hardState;
      out.push(
        `node ${n.id}: ${st.softState.role} term=${hs.term} vote=${hs.vote} lead=${st.softState.leader} commit=${hs.commit} ` +
          `applied=${n.sm.index} last=${st.lastIndex} first=${n.raw.log.firstIndex()} ${formatConf(st.confState)}`,
      );
    }
    return out;
  }

  /** Power loss; with `dropSent` the messages it sent that are still in flight are lost too. */
  crash(n: SimNode, dropSent: boolean): void {
    this.trace.note(this.now, `crash ${n.id} (${n.disk.pending} writes lost${dropSent ? ", and its messages in flight" : ""})`);
    n.crash();
    if (dropSent) this.network.dropInFlight(n.id);
  }

  restart(n: SimNode): void {
    n.start();
    this.trace.note(this.now, `restart ${n.id}`);
  }

  /** Shuts a removed node down for good; its id is never reused. */
  retire(n: SimNode): void {
    if (n.up) n.crash();
    this.retired.add(n.id);
    this.trace.note(this.now, `retire ${n.id}`);
  }

  // NodeHost

  send(m: Message): void {
    if (m.to === m.from) return; // local messages are the core's business
    this.network.send(m, this.now);
  }

  applied(_node: SimNode, e: Entry): void {
    if (e.index <= this.countedIndex) return;
    this.countedIndex = e.index;
    if (e.type === EntryType.Normal && e.data.length === 4) {
      this.counters.committed++;
      this.onProposalCommitted(decodeId(e.data), e.index);
    }
  }

  confApplied(node: SimNode, index: number, confState: ConfState): void {
    if (index <= this.confIndex) return;
    this.confIndex = index;
    this.conf = confState;
    this.counters.confChanges++;
    this.trace.note(this.now, `node ${node.id} applies conf change at ${index}: ${formatConf(confState)}`);
    this.onMembershipChange();
  }

  snapshotInstalled(node: SimNode): void {
    this.counters.snapshots++;
    this.trace.note(this.now, `node ${node.id} installs snapshot at ${node.sm.index}`);
  }

  readServed(): void {
    this.counters.reads++;
  }

  leaderElected(node: SimNode, term: number): void {
    this.trace.note(this.now, `node ${node.id} leads term ${term}`);
    this.onLeader(node);
  }

  leaderCommitted(node: SimNode): void {
    this.onLeaderCommit(node);
  }

  voted(node: SimNode): void {
    this.onVote(node);
  }

  private addNode(id: number, storage: MemoryStorage): SimNode {
    const coreRng = this.rng.fork();
    const p = this.profile;
    const bugs = this.options.bug === undefined ? undefined : new Set([this.options.bug]);
    const config = (nodeId: number, applied: number): RaftConfig => ({
      id: nodeId,
      group: "sim",
      electionTick: p.electionTick,
      heartbeatTick: p.heartbeatTick,
      random: (n) => coreRng.int(n),
      applied,
      maxSizePerMsg: p.maxSizePerMsg,
      maxInflightMsgs: p.maxInflightMsgs,
      maxUncommittedEntriesSize: p.maxUncommittedEntriesSize,
      preVote: p.preVote,
      checkQuorum: p.checkQuorum,
      leaseRead: p.leaseRead,
      snapshotChunkSize: p.snapshotChunkSize,
      applyBeforePersist: p.applyBeforePersist,
      lazyCommitPropagation: p.lazyCommitPropagation,
      bugs,
    });
    const n = new SimNode(id, storage, this.rng.fork(), p.maxFsyncDelay, this, config);
    this.nodes.set(id, n);
    n.start();
    return n;
  }
}

export function formatConf(c: ConfState): string {
  let s = `voters=[${c.voters.join(",")}]`;
  if (c.votersOutgoing.length > 0) s += ` outgoing=[${c.votersOutgoing.join(",")}]`;
  if (c.learners.length > 0) s += ` learners=[${c.learners.join(",")}]`;
  if (c.learnersNext.length > 0) s += ` learnersNext=[${c.learnersNext.join(",")}]`;
  return s;
}

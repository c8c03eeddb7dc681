/**
 * A synchronous in-memory network of Raft nodes for unit tests, in the spirit of etcd's
 * `network`: messages are delivered until the cluster is quiet; every Ready is persisted to the
 * node's MemoryStorage and applied at once. Tests cut links, isolate nodes, drop message types,
 * drop, rewrite or hold back single messages (`filter`, then `send` to deliver later), watch every
 * Ready (`onReady`), restart nodes from their disks, add nodes, and tick nodes by hand.
 * The free functions below drive a lone RawNode the same way (`drainNode`, `persistReady`) and
 * build test disks and messages. (The simulator, with faults and crashes, lives in broker/sim.)
 */
import {
  EntryType,
  MessageType,
  emptyConfState,
  emptyMessage,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
} from "../../protocol/raft.js";
import { decodeConfChange } from "../../protocol/conf-change.js";
import { MemoryStorage } from "./memory-storage.js";
import { RawNode } from "./raw-node.js";
import type { BugName, RaftConfig, ReadState, Ready } from "./types.js";

/**
 * Known mistakes to inject into every test node, from RAFT_TEST_BUGS (comma-separated names of
 * KNOWN_BUGS): a way to check that the unit tests catch them (they must fail).
 */
const INJECTED_BUGS: ReadonlySet<BugName> | undefined = process.env.RAFT_TEST_BUGS
  ? new Set(process.env.RAFT_TEST_BUGS.split(",") as BugName[])
  : undefined;

/**
 * A config for node `id` with the test defaults (electionTick 10, heartbeatTick 1, a deterministic
 * per-node random sequence), then `overrides`.
 */
export function testConfig(id: number, overrides: Partial<RaftConfig> = {}): RaftConfig {
  let seed = id * 7919;
  return {
    ...(INJECTED_BUGS ? { bugs: INJECTED_BUGS } : {}),
    id,
    group: "g",
    electionTick: 10,
    heartbeatTick: 1,
    // Deterministic "randomness": each node its own simple sequence.
    random: (n) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    },
    ...overrides,
  };
}

/** Entries with the given terms at indexes first, first+1, ... (data: "i@t"). */
export function entriesWithTerms(terms: number[], first = 1): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: first + i,
    type: EntryType.Normal,
    data: new TextEncoder().encode(`${first + i}@${term}`),
  }));
}

/**
 * A MemoryStorage holding a log whose entry i (from 1) has term `terms[i-1]`, and a hard state
 * (default: the last term, no vote, nothing committed): a node that restarts with this disk.
 */
export function storageWithLog(voters: number[], terms: number[], hardState?: Partial<HardState>): MemoryStorage {
  const s = new MemoryStorage({ ...emptyConfState(), voters });
  s.append(entriesWithTerms(terms));
  s.setHardState({ term: terms.length > 0 ? terms[terms.length - 1] : 0, vote: 0, commit: 0, ...hardState });
  return s;
}

/**
 * Does what a synchronous caller does with a Ready: write snapshot, entries and hard state to
 * `storage`. Returns every message that may now be sent (`messages` then `persistedMessages`).
 * The caller still applies and calls `advance`.
 */
export function persistReady(storage: MemoryStorage, rd: Ready): Message[] {
  if (rd.snapshot) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  return [...rd.messages, ...rd.persistedMessages];
}

/**
 * Takes and finishes every Ready of a lone node, as a synchronous caller would (persist to
 * `storage`, then advance; committed entries are not applied anywhere). Returns the messages sent.
 */
export function drainNode(node: RawNode, storage: MemoryStorage): Message[] {
  const out: Message[] = [];
  while (node.hasReady()) {
    const rd = node.ready();
    out.push(...persistReady(storage, rd));
    node.advance(rd);
  }
  return out;
}

/** A message from `from` to `to` in `term` with `fields` set (group "g", as the test nodes use). */
export function message(type: MessageType, from: number, to: number, term: number, fields: Partial<Message> = {}): Message {
  return { ...emptyMessage(type, "g", from, to, term), ...fields };
}

/** (index, term) of every entry a node's log holds from its first index: for comparing logs. */
export function logTerms(node: RawNode): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = node.log.firstIndex(); i <= node.log.lastIndex(); i++) out.push([i, node.log.term(i) ?? -1]);
  return out;
}

export interface TestNode {
  id: number;
  node: RawNode;
  storage: MemoryStorage;
  /** Entries applied, in order (no-ops included). */
  applied: Entry[];
  readStates: ReadState[];
  /** Every membership this node switched to by applying a conf change, in order. */
  confStates: ConfState[];
  /** Per-node config overrides (on top of the network's), kept for `restart`. */
  overrides: Partial<RaftConfig>;
  /** With `asyncWrites`: Readies whose writes are under way (oldest first), see `completeWrites`. */
  pending: Ready[];
}

export class TestNetwork {
  readonly nodes = new Map<number, TestNode>();
  private cut = new Set<string>();
  private dropTypes = new Set<number>();
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];
  /** Optional hook: return false to drop a message, or another message to deliver in its place. */
  filter: ((m: Message) => boolean | Message) | undefined;
  /** Optional hook: sees every Ready a node produces, before the network acts on it. */
  onReady: ((id: number, rd: Ready) => void) | undefined;
  /**
   * Asynchronous disks: a Ready's messages go out and its committed entries are applied at once
   * (`advanceAppend`), but its writes complete only when the test calls `completeWrites`; only
   * then are they in storage, are its `persistedMessages` sent and does `onPersisted` run.
   * A `restart` loses the writes still under way. Off: every Ready is finished at once.
   */
  asyncWrites = false;

  /** The membership the group was created with (every original node's disk starts with it). */
  readonly bootstrap: ConfState;

  constructor(
    ids: number[],
    private readonly overrides: Partial<RaftConfig> = {},
    learners: number[] = [],
  ) {
    this.bootstrap = { ...emptyConfState(), voters: ids, learners };
    for (const id of ids) this.add(id, this.bootstrap);
    for (const id of learners) this.add(id, this.bootstrap);
  }

  /**
   * Adds a new, empty node that is not a member yet, to be added by a conf change. Its disk starts
   * from the group's bootstrap membership: the initial members are not in the log (only in the
   * bootstrap snapshot at index 0), so a node that replays the log from index 1 must start from
   * them to arrive at the right membership. (A node added after compaction gets a snapshot
   * instead and may start from nothing: `add(id)`.)
   */
  join(id: number, overrides: Partial<RaftConfig> = {}): TestNode {
    return this.add(id, this.bootstrap, undefined, overrides);
  }

  /**
   * Adds a node with the given initial membership (empty for a node joining later), or one that
   * starts from an existing disk (`storage`; its membership then comes from the storage), with
   * per-node config `overrides`. Replaces a node of the same id.
   */
  add(
    id: number,
    confState = emptyConfState(),
    storage = new MemoryStorage(confState),
    overrides: Partial<RaftConfig> = {},
  ): TestNode {
    const node = new RawNode(testConfig(id, { ...this.overrides, ...overrides }), storage);
    const t: TestNode = { id, node, storage, applied: [], readStates: [], confStates: [], overrides, pending: [] };
    this.nodes.set(id, t);
    return t;
  }

  /**
   * Crashes and restarts node `id`: a new RawNode over the same storage (everything the network
   * wrote is durable). Volatile state (role, leader, progress, partial snapshots, pending reads)
   * is lost, as in a real restart. Like a real state machine, the node resumes from its snapshot:
   * the committed entries after it are handed out again, and the network re-applies the conf
   * changes among them (only the snapshot records the membership) without recording entries it
   * had already applied a second time.
   */
  restart(id: number, overrides: Partial<RaftConfig> = {}): TestNode {
    const old = this.get(id);
    const all = { ...old.overrides, ...overrides };
    const node = new RawNode(testConfig(id, { ...this.overrides, ...all }), old.storage);
    const t: TestNode = { ...old, node, overrides: all, pending: [] };
    this.nodes.set(id, t);
    return t;
  }

  /**
   * With `asyncWrites`: the oldest `count` writes of node `id` (default: all) complete, in order:
   * they reach storage, their acknowledgements and votes are delivered, and the node is told.
   */
  completeWrites(id: number, count = Infinity): void {
    const t = this.get(id);
    for (let i = 0; i < count && t.pending.length > 0; i++) {
      const rd = t.pending.shift()!;
      persistReady(t.storage, { ...rd, messages: [] });
      t.node.onPersisted(rd.number);
      for (const m of rd.persistedMessages) this.deliver(m);
    }
  }

  get(id: number): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cutLink(id, other);
    }
  }

  cutLink(a: number, b: number): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  ignore(type: number): void {
    this.dropTypes.add(type);
  }

  recover(): void {
    this.cut.clear();
    this.dropTypes.clear();
  }

  /** Processes every node's Ready (persist, apply, advance) and returns the messages sent. */
  private drain(): Message[] {
    const out: Message[] = [];
    for (const t of [...this.nodes.values()].sort((a, b) => a.id - b.id)) {
      while (t.node.hasReady()) {
        const rd = t.node.ready();
        this.onReady?.(t.id, rd);
        if (this.asyncWrites) {
          out.push(...rd.messages);
          t.pending.push(rd);
        } else {
          out.push(...persistReady(t.storage, rd));
        }
        for (const e of rd.committedEntries) {
          // after a restart, entries up to what was applied before come again: replay only conf changes
          const replay = t.applied.length > 0 && e.index <= t.applied[t.applied.length - 1].index;
          if (!replay) t.applied.push(e);
          if (e.type === EntryType.ConfChange) {
            const cs = t.node.applyConfChange(decodeConfChange(e.data));
            if (!replay) t.confStates.push(cs);
          }
        }
        t.readStates.push(...rd.readStates);
        if (this.asyncWrites) t.node.advanceAppend(rd);
        else t.node.advance(rd);
      }
    }
    return out;
  }

  /** Delivers messages until no node has anything more to say. */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const msgs = this.drain();
      if (msgs.length === 0) return;
      for (const m of msgs) this.deliver(m);
    }
    throw new Error("network did not stabilize");
  }

  private deliver(m: Message): void {
    if (this.cut.has(`${m.from}-${m.to}`) || this.dropTypes.has(m.type)) return;
    if (this.filter) {
      const f = this.filter(m);
      if (f === false) return;
      if (f !== true) m = f;
    }
    const t = this.nodes.get(m.to);
    if (!t) return;
    this.delivered.push(m);
    t.node.step(m);
  }

  /** Sends a message into the network as if a node had sent it. */
  send(m: Message): void {
    this.deliver(m);
    this.stabilize();
  }

  campaign(id: number): void {
    this.get(id).node.campaign();
    this.stabilize();
  }

  propose(id: number, data: string): void {
    this.get(id).node.propose(new TextEncoder().encode(data));
    this.stabilize();
  }

  tick(id: number, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).node.tick();
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const t of this.nodes.values()) t.node.tick();
      this.stabilize();
    }
  }

  leader(): number {
    const leaders = [...this.nodes.values()].filter((t) => t.node.status().softState.role === "leader");
    return leaders.length === 1 ? leaders[0].id : 0;
  }

  /** Messages delivered so far that match `pred` (e.g. Apps from 1 to 2). */
  count(pred: (m: Message) => boolean): number {
    return this.delivered.filter(pred).length;
  }

  /** Data of applied non-empty entries, as strings. */
  appliedData(id: number): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}

export { MessageType };

/**
 * A synchronous in-memory network of Raft nodes for unit tests, in the spirit of etcd's
 * `network`: messages are delivered until the cluster is quiet; every Ready is persisted to the
 * node's MemoryStorage and applied at once. Tests cut links, isolate nodes, drop message types
 * and tick nodes by hand. (The simulator, with faults and crashes, lives in broker/sim.)
 */
import { EntryType, MessageType, emptyConfState, type Entry, type Message } from "../../protocol/raft.js";
import { decodeConfChange } from "../../protocol/conf-change.js";
import { MemoryStorage } from "./memory-storage.js";
import { RawNode } from "./raw-node.js";
import type { RaftConfig, ReadState } from "./types.js";

export interface TestNode {
  id: number;
  node: RawNode;
  storage: MemoryStorage;
  /** Entries applied, in order (no-ops included). */
  applied: Entry[];
  readStates: ReadState[];
}

export class TestNetwork {
  readonly nodes = new Map<number, TestNode>();
  private cut = new Set<string>();
  private dropTypes = new Set<number>();
  /** Every message delivered, for assertions. */
  readonly delivered: Message[] = [];
  /** Optional hook: return false to drop a message. */
  filter: ((m: Message) => boolean) | undefined;

  constructor(
    ids: number[],
    private readonly overrides: Partial<RaftConfig> = {},
    learners: number[] = [],
  ) {
    for (const id of ids) this.add(id, { ...emptyConfState(), voters: ids, learners });
    for (const id of learners) this.add(id, { ...emptyConfState(), voters: ids, learners });
  }

  /** Adds a node with the given initial membership (empty for a node joining later). */
  add(id: number, confState = emptyConfState(), storage = new MemoryStorage(confState)): TestNode {
    let seed = id * 7919;
    const node = new RawNode(
      {
        id,
        group: "g",
        electionTick: 10,
        heartbeatTick: 1,
        // Deterministic "randomness": each node its own simple sequence.
        random: (n) => {
          seed = (seed * 1103515245 + 12345) % 2147483648;
          return seed % n;
        },
        ...this.overrides,
      },
      storage,
    );
    const t: TestNode = { id, node, storage, applied: [], readStates: [] };
    this.nodes.set(id, t);
    return t;
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
        out.push(...rd.messages);
        if (rd.snapshot) t.storage.applySnapshot(rd.snapshot);
        t.storage.append(rd.entries);
        if (rd.hardState) t.storage.setHardState(rd.hardState);
        out.push(...rd.persistedMessages);
        for (const e of rd.committedEntries) {
          t.applied.push(e);
          if (e.type === EntryType.ConfChange) t.node.applyConfChange(decodeConfChange(e.data));
        }
        t.readStates.push(...rd.readStates);
        t.node.advance(rd);
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
    if (this.filter && !this.filter(m)) return;
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

  /** Data of applied non-empty entries, as strings. */
  appliedData(id: number): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}

export { MessageType };

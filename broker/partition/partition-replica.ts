/**
 * PartitionReplica: one replica of one partition on one broker — the Raft driver of the group
 * `<topic>/<partition>` over that partition's SegmentLog, with the produce path (offsets, dedup,
 * acks), the fetch path (high watermark, long polling, ReadIndex) and leadership events.
 *
 * The Raft driver. Inputs (peer messages through the RaftRouter, ticks from a timer, proposals)
 * go into the RawNode; `drain()` then takes every Ready and, per Ready, in this order:
 * 1. sends `messages` at once (they never depend on this Ready's writes);
 * 2. records `entries` in the PartitionTail (offsets, dedup; a conflicting suffix is dropped and its
 *    waiting produces rejected first) and hands them, with a term/vote change, to RaftLogStorage
 *    (broker/log: SegmentLog append and LMDB hard state, both asynchronous, group-fsynced);
 * 3. applies `committedEntries` (they are already durable here): a data entry moves the high
 *    watermark to its end offset, a ConfChange goes through `applyConfChange`; answers ReadStates
 *    once applied; calls `advanceAppend`;
 * 4. when both writes of this Ready are durable, and those of every Ready before it (one promise
 *    chain keeps them in order), sends `persistedMessages` (votes, acks) and calls `onPersisted`.
 * Nothing waits on the event loop: writes overlap with replication and with the next Readies.
 *
 * What survives a restart, and where:
 * - the log (segment files; terms and the offset of every entry are in its frames),
 * - hard state (term, vote, commit) in LMDB: a term or vote change is written with its Ready and
 *   waited for before any vote or acknowledgement that depends on it; commit-only changes are
 *   written lazily (see `scheduleCommitWrite`): the commit index is knowledge a node learns again,
 * - a checkpoint in LMDB: the applied index with the membership (ConfState) as of that index, and
 *   the replica's incarnation id. Entries after the checkpoint are applied again on restart.
 *
 * An empty disk must never vote as if it had its old log. A replica whose log was lost still
 * counts, in its peers' eyes, among the voters that acknowledged committed entries; if it voted
 * with an empty log it could elect a leader missing those entries, and committed data would be
 * gone. Likewise a replica whose LMDB was lost has forgotten its vote and could vote twice in one
 * term. So each replica writes a random incarnation id both in its directory (`replica.id`) and in
 * LMDB; on open, if either is missing or they differ (or the caller says the replica must already
 * exist and neither is there), the replica starts RECOVERING: it never campaigns, ignores
 * PreVote/Vote/TimeoutNow, and only follows. It leaves that state (and writes a fresh incarnation)
 * once it has heard a leader of a term above every term it could know of (its LMDB term or its
 * log's last term) and has applied up to that leader's commit index. Known limit: when BOTH stores
 * are lost the replica cannot know the highest term it once voted in, so a vote it gave before the
 * loss in a term above the one it recovers in could in theory be given again; closing that needs
 * the controller to re-add such a replica as a learner (new membership), which is not built yet. A
 * wiped directory with `expectExisting: false` is indistinguishable from a new replica.
 *
 * Raft reads its log through broker/log's RaftLogStorage (in-memory tail; below it, the log's
 * synchronous reads — blocking, acceptable only for the rare catch-up of a lagging follower or
 * re-applying after a restart). Its membership at open is ours: the applied checkpoint's.
 *
 * Not built yet: snapshots of a partition (the replica never creates one and refuses a Ready that
 * carries one, so retention must not delete a prefix Raft may still send), metrics.
 */
import { mkdir, open as openFile, readFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Logger } from "pino";
import {
  EntryType,
  MessageType,
  emptyConfState,
  type ConfChange,
  type ConfState,
  type HardState,
  type Message,
} from "../../protocol/raft.js";
import { decodeConfChange } from "../../protocol/conf-change.js";
import { DecodeError } from "../../protocol/decode-error.js";
import { FlotillaError } from "../../protocol/errors.js";
import { stampBatch, validateProducedBatch } from "../../protocol/record-batch.js";
import { ProposalDroppedError, RawNode, type ReadState, type Ready, type StateRole } from "../raft/index.js";
import { RaftLogStorage, SegmentLog, type GroupCommitter, type LogIo, type PersistWork } from "../log/index.js";
import type { StateStore, StateValue } from "../state/index.js";
import { DedupIndex, type DedupEntry } from "./dedup-index.js";
import { BATCH_ID_SIZE, ENTRY_HEADER_SIZE, encodeDataEntry, entryBatchId, entryOffsets, isDataEntry } from "./entry-codec.js";
import { partitionEntryCodec } from "./partition-codec.js";
import { PartitionTail } from "./partition-tail.js";
import type { RaftRouter } from "./raft-router.js";

export type Acks = "all" | "leader" | "none";

export interface ProduceRequest {
  /** Exactly one Kafka RecordBatch v2, as the producer encoded it (uncompressed). */
  batch: Uint8Array;
  /** The producer's 16-byte batch UUID: a retry with the same id never lands twice. */
  batchId: Uint8Array;
  acks: Acks;
}

export interface ProduceResult {
  baseOffset: bigint;
}

export interface FetchRequest {
  offset: bigint;
  /** Byte budget of the answer; the batch holding `offset` is returned whole even if larger. */
  maxBytes: number;
  /** How long to wait for `minBytes` to become available (0: answer at once). */
  maxWaitMs: number;
  /** Wait until at least this many bytes can be returned. Default 1. */
  minBytes?: number;
}

export interface FetchResult {
  highWatermark: bigint;
  logStartOffset: bigint;
  /** Raw record batches back to back, exactly as stored (no decoding). */
  batches: Uint8Array;
}

export interface LeaderChange {
  type: "leaderChanged";
  group: string;
  topic: string;
  partition: number;
  /** 0 while there is no known leader. */
  leader: number;
  term: number;
  isLeader: boolean;
}

export interface PartitionReplicaOptions {
  topic: string;
  partition: number;
  /** This broker's id: the replica's Raft node id. */
  brokerId: number;
  /** The voters of a new group (ignored once the replica has a checkpoint). */
  voters: number[];
  /** The replica's own directory (its log goes in `<dir>/log`). */
  dir: string;
  committer: GroupCommitter;
  stateStore: StateStore;
  router: RaftRouter;
  logger: Logger;
  /** Milliseconds per Raft tick. Default 100. */
  tickMs?: number;
  /** Replaces the timer (tests): called with the tick function, returns a stop function. */
  ticker?: (tick: () => void) => () => void;
  /** Default 10 ticks (randomized to [10, 20)). */
  electionTick?: number;
  /** Default 1 tick. */
  heartbeatTick?: number;
  /** Randomness for election timeouts. Default Math.random. */
  random?: (n: number) => number;
  /** Batches remembered by the dedup index. Default 10,000. */
  dedupWindow?: number;
  /** Entry bytes kept in memory beyond what is unapplied or not yet durable. Default 64 MiB. */
  maxTailBytes?: number;
  /** Largest batch accepted. Default: the transport's max batch less 64 KiB. */
  maxBatchBytes?: number;
  /** How long an acks=all/leader produce waits before TIMEOUT. Default 30 s. */
  produceTimeoutMs?: number;
  /** Run a ReadIndex round before every fetch (linearizable reads; followers ask the leader). Default false. */
  linearizableFetch?: boolean;
  /** Serve read indexes from the leader's lease (shorter than the election timeout) instead of a heartbeat round. Default false. */
  leaseRead?: boolean;
  /** The caller knows this replica existed before: an empty directory and LMDB mean a lost disk. */
  expectExisting?: boolean;
  /** Write the applied checkpoint every this many applied entries. Default 1000. */
  checkpointEveryEntries?: number;
  /** Passed to the SegmentLog (tests). */
  segmentBytes?: number;
  /** The SegmentLog's I/O seam (tests inject disk faults). */
  logIo?: LogIo;
}

const CHECKPOINT_NS = "partition-replica";
const INCARNATION_FILE = "replica.id";

/** Validates options, reporting every problem at once. */
export function validateReplicaOptions(o: PartitionReplicaOptions): void {
  const problems: string[] = [];
  if (!o.topic) problems.push("topic is empty");
  if (!Number.isSafeInteger(o.partition) || o.partition < 0) problems.push(`partition ${o.partition} is not a non-negative integer`);
  if (!Number.isSafeInteger(o.brokerId) || o.brokerId < 1) problems.push(`brokerId ${o.brokerId} is not a positive integer`);
  if (!Array.isArray(o.voters) || o.voters.length === 0) problems.push("voters is empty");
  else if (o.voters.some((v) => !Number.isSafeInteger(v) || v < 1)) problems.push(`voters ${o.voters.join(",")} are not all positive integers`);
  if (!o.dir) problems.push("dir is empty");
  const positive: Array<[string, number | undefined]> = [
    ["tickMs", o.tickMs],
    ["electionTick", o.electionTick],
    ["heartbeatTick", o.heartbeatTick],
    ["dedupWindow", o.dedupWindow],
    ["maxTailBytes", o.maxTailBytes],
    ["maxBatchBytes", o.maxBatchBytes],
    ["produceTimeoutMs", o.produceTimeoutMs],
    ["checkpointEveryEntries", o.checkpointEveryEntries],
  ];
  for (const [name, v] of positive) if (v !== undefined && (!Number.isFinite(v) || v <= 0)) problems.push(`${name} ${v} must be > 0`);
  if ((o.heartbeatTick ?? 1) >= (o.electionTick ?? 10)) problems.push("heartbeatTick must be below electionTick");
  if (o.maxBatchBytes !== undefined && o.maxBatchBytes > o.router.transport.maxBatchBytes - 4096) {
    problems.push(`maxBatchBytes ${o.maxBatchBytes} does not fit the transport's ${o.router.transport.maxBatchBytes}-byte messages`);
  }
  if (problems.length > 0) throw new RangeError(`invalid partition replica options: ${problems.join("; ")}`);
}

interface AckWaiter {
  index: number;
  term: number;
  baseOffset: number;
  resolve: (r: ProduceResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface FetchWaiter {
  wake: () => void;
}

interface Checkpoint {
  incarnation: string;
  applied: number;
  conf: ConfState;
}

function notLeader(leader: number, why: string): FlotillaError {
  return new FlotillaError("NOT_LEADER", `not the leader: ${why}`, leader > 0 ? { leader } : {});
}

export class PartitionReplica {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly id: number;
  private readonly logger: Logger;
  private readonly o: PartitionReplicaOptions;
  private readonly maxBatchBytes: number;
  private readonly produceTimeoutMs: number;
  private readonly checkpointEvery: number;

  private node!: RawNode;
  private readonly unregister: () => void;
  private stopTicker: (() => void) | undefined;

  // Role, as of the last Ready handled (what produce and fetch trust).
  private role: StateRole = "follower";
  private leader = 0;
  private term = 0;
  private hardState: HardState;
  /** Leader only: the offset the next proposed batch gets. Derived from the log tail on election. */
  private nextOffset = 0;
  private leaderTerm = 0;

  private applied: number;
  /** Membership as of `applied` (what the checkpoint records). */
  private confState: ConfState;
  /** Offset after the last applied data entry. */
  private hw: number;
  private lastCheckpointApplied: number;

  private readonly commitWaiters: AckWaiter[] = [];
  private readonly durableWaiters: AckWaiter[] = [];
  private readonly readWaiters = new Map<string, { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private pendingReadStates: ReadState[] = [];
  private readCounter = 0;
  private readonly fetchWaiters = new Set<FetchWaiter>();
  private readonly leaderListeners = new Set<(e: LeaderChange) => void>();

  private persistChain: Promise<void> = Promise.resolve();
  private drainScheduled = false;
  private draining = false;
  private failure: Error | undefined;
  private closed = false;
  /** Set while RECOVERING (see the module comment). */
  private recovering: { knownTerm: number; target: number } | undefined;
  private incarnation: string;
  private lastHandOff = 0;
  private commitWriteTimer: NodeJS.Timeout | undefined;
  /** What the last leader-change event said (events fire only when it changes). */
  private lastEvent = { leader: 0, isLeader: false };

  private constructor(
    o: PartitionReplicaOptions,
    private readonly log: SegmentLog,
    private readonly storage: RaftLogStorage,
    private readonly tail: PartitionTail,
    private readonly dedup: DedupIndex,
    init: { applied: number; hw: number; hardState: HardState; confState: ConfState; incarnation: string; recovering?: { knownTerm: number } },
  ) {
    this.o = o;
    this.topic = o.topic;
    this.partition = o.partition;
    this.group = `${o.topic}/${o.partition}`;
    this.id = o.brokerId;
    this.logger = o.logger.child({ component: "partition", group: this.group, broker: o.brokerId });
    this.maxBatchBytes = o.maxBatchBytes ?? o.router.transport.maxBatchBytes - 64 * 1024;
    this.produceTimeoutMs = o.produceTimeoutMs ?? 30_000;
    this.checkpointEvery = o.checkpointEveryEntries ?? 1000;
    this.applied = init.applied;
    this.lastCheckpointApplied = init.applied;
    this.hw = init.hw;
    this.hardState = init.hardState;
    this.confState = init.confState;
    this.term = init.hardState.term;
    this.incarnation = init.incarnation;
    if (init.recovering) this.recovering = { knownTerm: init.recovering.knownTerm, target: 0 };
    const electionTick = o.electionTick ?? 10;
    this.node = new RawNode(
      {
        id: o.brokerId,
        group: this.group,
        electionTick,
        heartbeatTick: o.heartbeatTick ?? 1,
        random: o.random ?? ((n) => Math.floor(Math.random() * n)),
        applied: init.applied,
        // Appends stay well below the transport's message limit; one entry may still be up to it.
        maxSizePerMsg: Math.floor(o.router.transport.maxBatchBytes / 2),
        preVote: true,
        checkQuorum: true,
        leaseRead: o.leaseRead ?? false,
        // Produce is leader-only: a proposal on a follower is refused, never forwarded.
        disableProposalForwarding: true,
      },
      storage,
    );
    this.unregister = o.router.register(this.group, (m) => this.step(m));
    const tick = (): void => this.tick();
    if (o.ticker) this.stopTicker = o.ticker(tick);
    else {
      const timer = setInterval(tick, o.tickMs ?? 100);
      this.stopTicker = () => clearInterval(timer);
    }
    if (this.recovering) this.logger.warn({ knownTerm: this.recovering.knownTerm }, "replica lost part of its state: recovering (no votes, no campaigns) until caught up");
  }

  /** Opens (creating if new) the replica in `options.dir` and starts its Raft node. */
  static async open(options: PartitionReplicaOptions): Promise<PartitionReplica> {
    validateReplicaOptions(options);
    const group = `${options.topic}/${options.partition}`;
    const logger = options.logger.child({ component: "partition", group, broker: options.brokerId });
    await mkdir(options.dir, { recursive: true });
    const log = await SegmentLog.open({ dir: join(options.dir, "log"), committer: options.committer, logger, segmentBytes: options.segmentBytes, io: options.logIo });
    const store = options.stateStore;
    const hs = store.hardState(group);
    const checkpoint = readCheckpoint(store.get(CHECKPOINT_NS, group));
    const fileId = await readFile(join(options.dir, INCARNATION_FILE), "utf8").then(
      (s) => s.trim(),
      () => undefined,
    );

    let recovering: { knownTerm: number } | undefined;
    let incarnation: string;
    const knownTerm = Math.max(hs?.term ?? 0, log.lastTerm ?? 0);
    if (checkpoint && fileId !== undefined && checkpoint.incarnation === fileId) {
      incarnation = fileId;
    } else if (!checkpoint && fileId === undefined && !hs && log.lastIndex === 0 && options.expectExisting !== true) {
      // A new replica: record who it is in both stores before it takes part in anything.
      incarnation = randomBytes(16).toString("hex");
      await writeIncarnation(options.dir, incarnation);
      await store.put(CHECKPOINT_NS, group, checkpointValue({ incarnation, applied: 0, conf: initialConf(options.voters) }));
    } else {
      recovering = { knownTerm };
      incarnation = "";
      logger.warn(
        { lmdbCheckpoint: checkpoint !== undefined, hardState: hs !== undefined, incarnationFile: fileId !== undefined, logLastIndex: log.lastIndex },
        "the log and the state store do not belong to the same replica life (a disk was lost)",
      );
    }
    const hardState: HardState = hs ?? { term: 0, vote: 0, commit: 0 };
    const conf = checkpoint?.conf ?? initialConf(options.voters);
    let applied = recovering ? 0 : Math.min(checkpoint?.applied ?? 0, hardState.commit, log.lastIndex);
    if (applied < log.firstIndex - 1) applied = log.firstIndex - 1;

    const maxTailBytes = options.maxTailBytes ?? 64 << 20;
    // Raft's view of the log (the broker/log adapter). The membership comes from our checkpoint:
    // the adapter's own is the snapshot's, which misses changes applied since.
    const storage = await RaftLogStorage.open({ group, log, state: store, codec: partitionEntryCodec, initialConfState: conf, tailCacheBytes: maxTailBytes });
    const dedup = new DedupIndex(options.dedupWindow ?? 10_000);
    const tail = await PartitionTail.open(log, maxTailBytes, options.dedupWindow ?? 10_000, Math.max(maxTailBytes, 64 << 20), (e) => {
      if (isDataEntry(e.entry)) dedup.add(entryBatchId(e.entry.data), { index: e.entry.index, term: e.entry.term, baseOffset: e.offset, nextOffset: e.next });
    });
    const hw = applied >= log.firstIndex ? tail.entryAt(applied)!.next : Number(log.logStartOffset);
    return new PartitionReplica(options, log, storage, tail, dedup, { applied, hw, hardState, confState: conf, incarnation, recovering });
  }

  // ------------------------------------------------------------------ inputs

  private step(m: Message): void {
    if (this.closed || this.failure) return;
    if (this.recovering) {
      if (m.type === MessageType.PreVote || m.type === MessageType.Vote || m.type === MessageType.TimeoutNow) return;
      if (m.type === MessageType.App && m.term > this.recovering.knownTerm) this.recovering.target = Math.max(this.recovering.target, m.commit);
    }
    if (m.type === MessageType.AppResp && m.reject && this.role === "leader") this.checkLostFollower(m);
    this.node.step(m);
    this.scheduleDrain();
  }

  /**
   * A follower that rejects an append with a hint below the match it acknowledged has lost its log.
   * The core keeps trusting the old match (it ignores such rejects: stale, by Raft's rules), so this
   * leader would never send it the missing entries. A new leader starts every follower's progress
   * afresh and probes it, so hand leadership to the most up-to-date other voter (at most once per
   * election timeout). Committed entries are safe: the new leader is elected by a majority that
   * does not need the amnesiac's vote, which it withholds while recovering.
   */
  private checkLostFollower(m: Message): void {
    const status = this.node.status();
    const pr = status.progress?.get(m.from);
    if (!pr || m.term !== status.hardState.term || m.rejectHint >= pr.match) return;
    const now = Date.now();
    if (now - this.lastHandOff < (this.o.electionTick ?? 10) * (this.o.tickMs ?? 100)) return;
    let target = 0;
    let best = -1;
    for (const [id, p] of status.progress!) {
      if (id === this.id || id === m.from || p.isLearner || !p.recentActive || !status.confState.voters.includes(id)) continue;
      if (p.match > best) {
        best = p.match;
        target = id;
      }
    }
    this.logger.warn({ follower: m.from, acknowledged: pr.match, hint: m.rejectHint, transferTo: target }, "a follower lost entries it had acknowledged");
    if (target === 0) return;
    this.lastHandOff = now;
    this.node.transferLeader(target);
  }

  private tick(): void {
    if (this.closed || this.failure) return;
    // A recovering replica must not campaign; as a follower a tick does nothing else.
    if (this.recovering && this.role !== "leader") return;
    this.node.tick();
    this.scheduleDrain();
  }

  /** Campaigns now (tests, and leadership placement by the controller later). */
  campaign(): void {
    if (this.recovering || this.closed) return;
    this.node.campaign();
    this.scheduleDrain();
  }

  /**
   * Proposes a membership change (leader only): add a learner, promote it, remove a replica — the
   * steps of a reassignment. Resolves when the change is proposed; it takes effect when applied
   * (`status().voters`), and the applied membership is checkpointed in LMDB.
   */
  proposeConfChange(cc: ConfChange): void {
    this.checkUsable();
    this.drain();
    if (this.role !== "leader") throw notLeader(this.leader, `broker ${this.id} is a ${this.role} of ${this.group}`);
    try {
      this.node.proposeConfChange(cc);
    } catch (err) {
      if (err instanceof ProposalDroppedError) throw new FlotillaError("INVALID_REQUEST", err.message, { cause: err });
      throw err;
    }
    this.scheduleDrain();
  }

  /**
   * Graceful shutdown's first step: if this replica leads, hands leadership to the most caught-up
   * live voter and waits (up to `timeoutMs`, default two election timeouts) until it has moved.
   * Resolves true when this replica no longer leads.
   */
  async handOffLeadership(timeoutMs?: number): Promise<boolean> {
    this.checkUsable();
    this.drain();
    if (this.role !== "leader") return true;
    const status = this.node.status();
    let target = 0;
    let best = -1;
    for (const [id, p] of status.progress ?? []) {
      if (id === this.id || p.isLearner || !p.recentActive || !status.confState.voters.includes(id)) continue;
      if (p.match > best) {
        best = p.match;
        target = id;
      }
    }
    if (target === 0) return false;
    const wait = timeoutMs ?? 2 * (this.o.electionTick ?? 10) * (this.o.tickMs ?? 100);
    const moved = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, wait);
      const off = this.onLeaderChange((e) => {
        if (!e.isLeader) {
          clearTimeout(timer);
          off();
          resolve(true);
        }
      });
    });
    this.node.transferLeader(target);
    this.scheduleDrain();
    return moved;
  }

  /** Hands leadership to `to` (graceful shutdown, leader spreading). */
  transferLeader(to: number): void {
    this.node.transferLeader(to);
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    queueMicrotask(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  // ------------------------------------------------------------------ the Raft driver

  /** Handles every Ready the node has (synchronous: it only starts I/O). */
  private drain(): void {
    if (this.draining || this.closed || this.failure) return;
    this.draining = true;
    try {
      while (this.node.hasReady()) this.handleReady(this.node.ready());
    } catch (err) {
      this.failStop(err as Error);
    } finally {
      this.draining = false;
    }
  }

  private handleReady(rd: Ready): void {
    // 1. Messages that do not depend on this Ready's writes go out now.
    for (const m of rd.messages) this.o.router.send(m);

    // 2. Writes: entries to the log (in memory at once, on disk in the background), hard state to LMDB.
    const writes: Array<Promise<unknown>> = [];
    if (rd.snapshot) throw new Error("snapshots are not supported by partition replicas yet");
    const work: PersistWork = { entries: rd.entries };
    if (rd.entries.length > 0) this.tail.append(rd.entries, (from) => this.onTruncate(from));
    for (const e of rd.entries) {
      if (isDataEntry(e)) {
        const o = entryOffsets(e.data);
        this.dedup.add(entryBatchId(e.data), { index: e.index, term: e.term, baseOffset: o.base, nextOffset: o.next });
      }
    }
    if (rd.hardState) {
      const hs = rd.hardState;
      const voteOrTerm = hs.term !== this.hardState.term || hs.vote !== this.hardState.vote;
      this.hardState = hs;
      this.term = hs.term;
      if (voteOrTerm) work.hardState = hs;
      else this.scheduleCommitWrite();
    }
    if (work.entries.length > 0 || work.hardState) writes.push(this.storage.persist(work));
    if (rd.softState) this.onSoftState(rd.softState.role, rd.softState.leader);

    // 3. Apply what is committed (already durable here).
    if (rd.committedEntries.length > 0) this.apply(rd);
    this.node.advanceAppend(rd);
    if (rd.readStates.length > 0) this.pendingReadStates.push(...rd.readStates);
    this.answerReads();

    // 4. Once this Ready's writes (and every earlier one's) are durable: acknowledgements and votes.
    const done = writes.length === 0 ? undefined : Promise.all(writes);
    done?.catch(() => undefined); // handled in the chain below; avoid an unhandled rejection meanwhile
    const n = rd.number;
    const persisted = rd.persistedMessages;
    this.persistChain = this.persistChain
      .then(() => done)
      .then(
        () => {
          if (this.closed || this.failure) return;
          for (const m of persisted) this.o.router.send(m);
          this.node.onPersisted(n);
          this.resolveDurable();
          this.scheduleDrain();
        },
        (err: unknown) => this.failStop(err as Error),
      );
  }

  /**
   * A commit-only hard state change is not waited for and not written at once: the commit index is
   * knowledge a restarted node learns again from its leader, so one LMDB write per second (or with
   * the next vote, term or checkpoint, which all carry the latest hard state) is enough, instead of
   * an LMDB commit and sync for every Ready.
   */
  private scheduleCommitWrite(): void {
    if (this.commitWriteTimer) return;
    this.commitWriteTimer = setTimeout(() => {
      this.commitWriteTimer = undefined;
      if (this.closed || this.failure) return;
      this.o.stateStore.putHardState(this.group, this.hardState).catch((err: unknown) => this.failStop(err as Error));
    }, 1000);
    this.commitWriteTimer.unref();
  }

  private onSoftState(role: StateRole, leader: number): void {
    const wasLeader = this.role === "leader";
    this.role = role;
    this.leader = leader;
    if (role === "leader" && !wasLeader) {
      // Offsets continue from this node's own log tail (committed or not, its no-op included),
      // never from a count of entries: the tail's last batch says where the log ends.
      if (this.tail.lastIndex !== this.node.log.lastIndex()) {
        throw new Error(`the partition tail ends at ${this.tail.lastIndex} but the Raft log at ${this.node.log.lastIndex()}`);
      }
      this.nextOffset = this.tail.endOffset;
      this.leaderTerm = this.node.status().hardState.term;
      this.term = this.leaderTerm;
      this.logger.info({ term: this.leaderTerm, nextOffset: this.nextOffset }, "became leader");
    } else if (wasLeader && role !== "leader") {
      this.logger.info({ term: this.term, leader }, "lost leadership");
      const err = notLeader(leader, "leadership changed before the batch was acknowledged; retry with the same batch id");
      this.rejectWaiters(this.commitWaiters, err);
      this.rejectWaiters(this.durableWaiters, err);
    }
    if (leader !== this.lastEvent.leader && this.readWaiters.size > 0) {
      // The core drops read requests on a term change; a forwarded one may be lost with the old
      // leader. Fail them now (retriable) rather than at their timeout.
      const err = notLeader(leader, "the leader changed while the read index was pending; retry");
      for (const [key, w] of this.readWaiters) {
        clearTimeout(w.timer);
        w.reject(err);
        this.readWaiters.delete(key);
      }
    }
    const isLeader = role === "leader";
    if (leader === this.lastEvent.leader && isLeader === this.lastEvent.isLeader) return;
    this.lastEvent = { leader, isLeader };
    const event: LeaderChange = {
      type: "leaderChanged",
      group: this.group,
      topic: this.topic,
      partition: this.partition,
      leader,
      term: isLeader ? this.leaderTerm : this.term,
      isLeader,
    };
    for (const l of this.leaderListeners) {
      try {
        l(event);
      } catch (err) {
        this.logger.error({ err }, "leader change listener threw");
      }
    }
  }

  private apply(rd: Ready): void {
    let hw = this.hw;
    let confChanged = false;
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        const cs = this.node.applyConfChange(decodeConfChange(e.data));
        this.confState = cs;
        confChanged = true;
        this.logger.info({ index: e.index, confState: cs }, "applied a membership change");
      } else if (isDataEntry(e)) {
        hw = entryOffsets(e.data).next;
      }
    }
    this.applied = rd.committedEntries[rd.committedEntries.length - 1].index;
    // acks=all: committed at this leader AND still the entry that was proposed (same term).
    while (this.commitWaiters.length > 0 && this.commitWaiters[0].index <= this.applied) {
      const w = this.commitWaiters.shift()!;
      clearTimeout(w.timer);
      if (this.termAt(w.index) === w.term) w.resolve({ baseOffset: BigInt(w.baseOffset) });
      else w.reject(notLeader(this.leader, `the entry at ${w.index} was replaced by another leader's`));
    }
    if (hw !== this.hw) {
      this.hw = hw;
      for (const f of [...this.fetchWaiters]) f.wake();
    }
    this.tail.trim(Math.min(this.applied, this.node.log.persisted));
    if (confChanged || this.applied - this.lastCheckpointApplied >= this.checkpointEvery) void this.writeCheckpoint();
    if (this.recovering && this.recovering.target > 0 && this.applied >= this.recovering.target && this.term > this.recovering.knownTerm) {
      this.finishRecovery();
    }
  }

  private termAt(index: number): number | undefined {
    return this.node.log.term(index);
  }

  /** A suffix from `from` on is being replaced: waiters for those entries were never acknowledged. */
  private onTruncate(from: number): void {
    this.dedup.truncateFrom(from);
    const err = notLeader(this.leader, `the entry was truncated by a new leader before it committed; retry with the same batch id`);
    for (const list of [this.commitWaiters, this.durableWaiters]) {
      for (let k = list.length - 1; k >= 0; k--) {
        if (list[k].index >= from) {
          clearTimeout(list[k].timer);
          list[k].reject(err);
          list.splice(k, 1);
        }
      }
    }
  }

  private resolveDurable(): void {
    const durable = this.node.log.persisted;
    while (this.durableWaiters.length > 0 && this.durableWaiters[0].index <= durable) {
      const w = this.durableWaiters.shift()!;
      clearTimeout(w.timer);
      if (this.termAt(w.index) === w.term) w.resolve({ baseOffset: BigInt(w.baseOffset) });
      else w.reject(notLeader(this.leader, `the entry at ${w.index} was replaced before it was durable`));
    }
  }

  private rejectWaiters(list: AckWaiter[], err: Error): void {
    for (const w of list.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private answerReads(): void {
    if (this.pendingReadStates.length === 0) return;
    const left: ReadState[] = [];
    for (const rs of this.pendingReadStates) {
      if (rs.index > this.applied) {
        left.push(rs);
        continue;
      }
      const key = Buffer.from(rs.context).toString("hex");
      const w = this.readWaiters.get(key);
      if (w) {
        this.readWaiters.delete(key);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
    this.pendingReadStates = left;
  }

  /**
   * Records the applied index with the membership as of that index, and the current hard state, in
   * one LMDB transaction (so the checkpoint's applied index never exceeds the stored commit).
   */
  private writeCheckpoint(): Promise<void> {
    if (this.recovering) return Promise.resolve();
    this.lastCheckpointApplied = this.applied;
    const value = checkpointValue({ incarnation: this.incarnation, applied: this.applied, conf: this.confState });
    return this.o.stateStore
      .write({ hardStates: [[this.group, this.hardState]], records: [[CHECKPOINT_NS, this.group, value]] })
      .catch((err: unknown) => this.failStop(err as Error));
  }

  private finishRecovery(): void {
    const was = this.recovering!;
    this.recovering = undefined;
    this.incarnation = randomBytes(16).toString("hex");
    const incarnation = this.incarnation;
    this.logger.warn({ knownTerm: was.knownTerm, term: this.term, applied: this.applied }, "caught up after losing state: voting again");
    void writeIncarnation(this.o.dir, incarnation)
      .then(() => this.writeCheckpoint())
      .catch((err: unknown) => this.failStop(err as Error));
  }

  private failStop(err: Error): void {
    if (this.failure || this.closed) return;
    this.failure = err;
    this.logger.error({ err }, "partition replica failed: it stops taking part until reopened");
    clearTimeout(this.commitWriteTimer);
    this.stopTicker?.();
    this.unregister();
    const e = new FlotillaError("STORAGE_ERROR", `partition ${this.group} failed: ${err.message}`, { cause: err });
    this.rejectAll(e);
  }

  private rejectAll(e: Error): void {
    this.rejectWaiters(this.commitWaiters, e);
    this.rejectWaiters(this.durableWaiters, e);
    for (const [key, w] of this.readWaiters) {
      clearTimeout(w.timer);
      w.reject(e);
      this.readWaiters.delete(key);
    }
    for (const f of [...this.fetchWaiters]) f.wake();
  }

  private checkUsable(): void {
    if (this.closed) throw new FlotillaError("NOT_LEADER", `partition replica ${this.group} on broker ${this.id} is closed`);
    if (this.failure) throw new FlotillaError("STORAGE_ERROR", `partition ${this.group} failed: ${this.failure.message}`, { cause: this.failure });
  }

  // ------------------------------------------------------------------ produce

  /**
   * Appends one producer batch (leader only). The hot path, step by step:
   * 1. Checks, before anything is touched: a 16-byte batch id, the size limit (BATCH_TOO_LARGE),
   *    `validateProducedBatch` — one batch, CRC-32C, record count vs bytes (CORRUPT_BATCH).
   * 2. Drains pending Readies so the role is current, then refuses unless this replica leads
   *    (NOT_LEADER with the leader it knows).
   * 3. Dedup: a batch id already in the log (committed or not, within the window) returns the
   *    ORIGINAL base offset and appends nothing; acks are then answered for that original entry.
   * 4. Offsets: base = `nextOffset`, then `nextOffset += recordCount`. The batch is copied once into
   *    the Raft entry (17-byte header + batch) and stamped in place with the base offset and the
   *    leader epoch (= Raft term): both lie before the CRC'd range, so nothing is recomputed.
   * 5. `propose` appends it to the leader's Raft log synchronously, so batches are ordered as they
   *    arrived (a producer's in-flight batches keep their order). Nothing is awaited before this
   *    point, so no other produce can slip in between.
   * 6. The next drain hands the entry to the log (written and group-fsynced in the background)
   *    while the App messages go to the followers in parallel; followers append, fsync, and ack.
   * 7. acks=none answers now; acks=leader once the leader's own write is durable; acks=all once the
   *    entry is committed and applied here, if it is still the same entry (same index and term). A
   *    truncation or a lost leadership before that rejects with a retriable NOT_LEADER: the retry,
   *    with the same batch id, finds the original in the new leader's dedup index.
   */
  produce(req: ProduceRequest): Promise<ProduceResult> {
    try {
      this.checkUsable();
      if (!(req.batchId instanceof Uint8Array) || req.batchId.length !== BATCH_ID_SIZE) {
        throw new FlotillaError("INVALID_REQUEST", `batch id must be ${BATCH_ID_SIZE} bytes`);
      }
      if (req.acks !== "all" && req.acks !== "leader" && req.acks !== "none") throw new FlotillaError("INVALID_REQUEST", `unknown acks ${String(req.acks)}`);
      if (!(req.batch instanceof Uint8Array)) throw new FlotillaError("INVALID_REQUEST", "batch must be bytes");
      if (req.batch.length > this.maxBatchBytes) {
        throw new FlotillaError("BATCH_TOO_LARGE", `batch of ${req.batch.length} bytes is above the ${this.maxBatchBytes}-byte limit`);
      }
      let recordCount: number;
      try {
        recordCount = validateProducedBatch(req.batch).recordCount;
      } catch (err) {
        if (err instanceof DecodeError) throw new FlotillaError("CORRUPT_BATCH", err.message, { cause: err });
        throw err;
      }
      this.drain();
      if (this.role !== "leader") throw notLeader(this.leader, `broker ${this.id} is a ${this.role} of ${this.group}`);

      const dup = this.dedup.lookup(req.batchId);
      if (dup) return this.answerDuplicate(dup, req.acks);

      const base = this.nextOffset;
      const data = encodeDataEntry(req.batchId, req.batch);
      stampBatch(data, ENTRY_HEADER_SIZE, BigInt(base), this.leaderTerm);
      try {
        this.node.propose(data);
      } catch (err) {
        if (err instanceof ProposalDroppedError) throw notLeader(this.leader, err.message);
        throw err;
      }
      const index = this.node.log.lastIndex();
      const term = this.node.log.term(index) ?? 0;
      if (term !== this.leaderTerm) throw new Error(`proposal landed at ${index} in term ${term}, not ${this.leaderTerm}`);
      this.nextOffset = base + recordCount;
      const entry: DedupEntry = { index, term, baseOffset: base, nextOffset: this.nextOffset };
      this.dedup.add(req.batchId, entry);
      this.scheduleDrain();
      return this.answer(entry, req.acks);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private answerDuplicate(dup: DedupEntry, acks: Acks): Promise<ProduceResult> {
    this.logger.debug({ index: dup.index, baseOffset: dup.baseOffset }, "duplicate batch id: answering with the original offsets");
    return this.answer(dup, acks);
  }

  private answer(e: DedupEntry, acks: Acks): Promise<ProduceResult> {
    const result = { baseOffset: BigInt(e.baseOffset) };
    if (acks === "none") return Promise.resolve(result);
    if (e.index <= this.applied) return Promise.resolve(result);
    if (acks === "leader" && e.index <= this.node.log.persisted) return Promise.resolve(result);
    return new Promise<ProduceResult>((resolve, reject) => {
      const list = acks === "all" ? this.commitWaiters : this.durableWaiters;
      const w: AckWaiter = {
        index: e.index,
        term: e.term,
        baseOffset: e.baseOffset,
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = list.indexOf(w);
          if (at >= 0) list.splice(at, 1);
          reject(new FlotillaError("TIMEOUT", `batch at index ${e.index} not ${acks === "all" ? "committed" : "durable"} within ${this.produceTimeoutMs} ms`));
        }, this.produceTimeoutMs),
      };
      // Keep the list ordered by index (a duplicate may wait on an older entry).
      let at = list.length;
      while (at > 0 && list[at - 1].index > w.index) at--;
      list.splice(at, 0, w);
    });
  }

  // ------------------------------------------------------------------ fetch

  /**
   * Raw batches from `offset` up to the high watermark. Offsets below the log start or above the
   * high watermark are OFFSET_OUT_OF_RANGE; at the high watermark the call long-polls up to
   * `maxWaitMs` for `minBytes`. The tail is served from memory, older data from the segment files.
   */
  async fetch(req: FetchRequest): Promise<FetchResult> {
    this.checkUsable();
    if (typeof req.offset !== "bigint" || req.offset < 0n || req.offset > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FlotillaError("OFFSET_OUT_OF_RANGE", `offset ${String(req.offset)} is not a valid offset`);
    }
    if (!Number.isSafeInteger(req.maxBytes) || req.maxBytes <= 0) throw new FlotillaError("INVALID_REQUEST", `maxBytes ${req.maxBytes} must be > 0`);
    if (!Number.isFinite(req.maxWaitMs) || req.maxWaitMs < 0) throw new FlotillaError("INVALID_REQUEST", `maxWaitMs ${req.maxWaitMs} must be >= 0`);
    const minBytes = req.minBytes ?? 1;
    const offset = Number(req.offset);
    const deadline = Date.now() + req.maxWaitMs;
    if (this.o.linearizableFetch) await this.readIndex(Math.max(req.maxWaitMs, 1000));
    for (;;) {
      this.checkUsable();
      const hw = this.hw;
      const start = Number(this.log.logStartOffset);
      if (offset < start || offset > hw) {
        throw new FlotillaError("OFFSET_OUT_OF_RANGE", `offset ${offset} is outside [${start}, ${hw}] (log start, high watermark)`);
      }
      const batches = offset < hw ? await this.readBatches(offset, req.maxBytes, hw) : Buffer.alloc(0);
      const left = deadline - Date.now();
      if (batches.length >= minBytes || left <= 0) {
        return { highWatermark: BigInt(this.hw), logStartOffset: BigInt(start), batches };
      }
      await this.waitForHw(hw, left);
    }
  }

  private async readBatches(offset: number, maxBytes: number, hw: number): Promise<Buffer> {
    const fromTail = this.tail.readTail(offset, maxBytes, hw);
    if (fromTail) return fromTail.length === 1 ? fromTail[0] : Buffer.concat(fromTail);
    return this.log.read(BigInt(offset), maxBytes, BigInt(hw));
  }

  /** Resolves when the high watermark moves past `hw`, after `ms`, or on close. */
  private waitForHw(hw: number, ms: number): Promise<void> {
    if (this.hw !== hw || this.closed || this.failure) return Promise.resolve();
    return new Promise((resolve) => {
      const w: FetchWaiter = {
        wake: () => {
          this.fetchWaiters.delete(w);
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(w.wake, ms);
      this.fetchWaiters.add(w);
    });
  }

  /** How many fetches are long-polling now (tests: waiters must be cleaned up). */
  get waitingFetches(): number {
    return this.fetchWaiters.size;
  }

  /**
   * A linearizable read point: resolves once this replica has applied everything committed
   * before the call (a ReadIndex round through the leader; followers ask the leader).
   */
  readIndex(timeoutMs = 5000): Promise<void> {
    this.checkUsable();
    const ctx = Buffer.alloc(12);
    ctx.writeUInt32BE(this.id, 0);
    ctx.writeDoubleBE(++this.readCounter, 4);
    const key = ctx.toString("hex");
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readWaiters.delete(key);
        reject(new FlotillaError("TIMEOUT", `no read index for ${this.group} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.readWaiters.set(key, { resolve, reject, timer });
      try {
        this.node.readIndex(ctx);
      } catch (err) {
        this.readWaiters.delete(key);
        clearTimeout(timer);
        reject(err instanceof ProposalDroppedError ? notLeader(this.leader, err.message) : (err as Error));
        return;
      }
      this.scheduleDrain();
    });
  }

  // ------------------------------------------------------------------ events and status

  /** Calls `listener` on every leadership change seen by this replica; returns an unsubscribe. */
  onLeaderChange(listener: (e: LeaderChange) => void): () => void {
    this.leaderListeners.add(listener);
    return () => this.leaderListeners.delete(listener);
  }

  get isLeader(): boolean {
    return this.role === "leader";
  }

  get isRecovering(): boolean {
    return this.recovering !== undefined;
  }

  status(): {
    role: StateRole;
    leader: number;
    term: number;
    vote: number;
    commit: number;
    applied: number;
    lastIndex: number;
    highWatermark: bigint;
    logEndOffset: bigint;
    logStartOffset: bigint;
    dedupEntries: number;
    recovering: boolean;
    voters: number[];
    learners: number[];
  } {
    const s = this.node.status();
    return {
      role: this.role,
      leader: this.leader,
      term: s.hardState.term,
      vote: s.hardState.vote,
      commit: s.hardState.commit,
      applied: this.applied,
      lastIndex: s.lastIndex,
      highWatermark: BigInt(this.hw),
      logEndOffset: BigInt(this.tail.endOffset),
      logStartOffset: this.log.logStartOffset,
      dedupEntries: this.dedup.size,
      recovering: this.recovering !== undefined,
      voters: s.confState.voters,
      learners: s.confState.learners,
    };
  }

  /**
   * Stops the replica. Graceful: waits for queued writes, writes the applied checkpoint, closes the
   * log. `abrupt` (tests, and the way a crash looks to peers): stops at once, writes no checkpoint.
   * Pending produces reject with NOT_LEADER (retriable), long polls return.
   */
  async close(options: { abrupt?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    const graceful = !options.abrupt && !this.failure;
    this.stopTicker?.();
    this.unregister();
    clearTimeout(this.commitWriteTimer);
    this.commitWriteTimer = undefined;
    if (graceful) {
      this.drain();
      await this.persistChain;
      await this.writeCheckpoint();
    }
    this.closed = true;
    this.rejectAll(new FlotillaError("NOT_LEADER", `partition replica ${this.group} on broker ${this.id} closed`));
    await this.log.close();
  }
}

function initialConf(voters: number[]): ConfState {
  return { ...emptyConfState(), voters: [...voters].sort((a, b) => a - b) };
}

function checkpointValue(c: Checkpoint): StateValue {
  return {
    incarnation: c.incarnation,
    applied: c.applied,
    voters: c.conf.voters,
    votersOutgoing: c.conf.votersOutgoing,
    learners: c.conf.learners,
    learnersNext: c.conf.learnersNext,
    autoLeave: c.conf.autoLeave,
  };
}

function numbers(v: StateValue | undefined): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => typeof x === "number") : [];
}

function readCheckpoint(v: StateValue | undefined): Checkpoint | undefined {
  if (v === undefined || v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) return undefined;
  const r = v as { [key: string]: StateValue };
  if (typeof r.incarnation !== "string" || typeof r.applied !== "number") return undefined;
  return {
    incarnation: r.incarnation,
    applied: r.applied,
    conf: {
      voters: numbers(r.voters),
      votersOutgoing: numbers(r.votersOutgoing),
      learners: numbers(r.learners),
      learnersNext: numbers(r.learnersNext),
      autoLeave: r.autoLeave === true,
    },
  };
}

/** Writes the incarnation file and fsyncs it (and its directory) before anything relies on it. */
async function writeIncarnation(dir: string, incarnation: string): Promise<void> {
  const path = join(dir, INCARNATION_FILE);
  const f = await openFile(path, "w");
  try {
    await f.writeFile(incarnation + "\n");
    await f.sync();
  } finally {
    await f.close();
  }
  const d = await openFile(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * PartitionReplica: one replica of one partition on one broker — the Raft group
 * `<topic>/<partition>` over that partition's SegmentLog, with the produce path (offsets, dedup,
 * acks), the fetch path (high watermark, long polling, ReadIndex) and leadership events. It is the
 * composition root: it owns the replica's state (role, applied index, high watermark, membership)
 * and wires its parts together:
 * - RaftDriver (raft-driver.ts): the RawNode, the Ready loop and the order of persistence;
 * - PartitionTail and DedupIndex: offsets of the entries in memory, and batch ids already in the log
 *   with each idempotent producer's last batch (checkSequence, producer-sequence.ts);
 * - validateProduceRequest and AckWaiters: the produce checks, and produces waiting for their acks;
 * - validateFetchRequest, HighWatermarkWaiters and ReadIndexWaiters: fetch checks, long polls, reads;
 * - LeaderChangeEvents, and leadership-transfer.ts (graceful hand-off, lost followers);
 * - FollowerLag: on the leader, each follower's lag and the in-sync replicas (status(), metrics);
 * - replica-recovery.ts (incarnation, RECOVERING after a lost disk) and replica-checkpoint.ts.
 *
 * What survives a restart, and where:
 * - the log (segment files; terms and the offset of every entry are in its frames),
 * - hard state (term, vote, commit) in LMDB (see raft-driver.ts for when it is written),
 * - a checkpoint in LMDB: the applied index with the membership (ConfState) as of that index, and
 *   the replica's incarnation id. Entries after the checkpoint are applied again on restart.
 *
 * Raft reads its log through broker/log's RaftLogStorage (in-memory tail; below it, the log's
 * synchronous reads — blocking, acceptable only for the rare catch-up of a lagging follower or
 * re-applying after a restart). Its membership at open is ours: the applied checkpoint's.
 *
 * Not built yet: snapshots of a partition (the replica never creates one and refuses a Ready that
 * carries one, so retention must not delete a prefix Raft may still send).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { EntryType, MessageType, emptyConfState, type ConfChange, type ConfState, type Entry, type HardState, type Message } from "../../protocol/raft.js";
import { decodeConfChange } from "../../protocol/conf-change.js";
import { FlotillaError } from "../../protocol/errors.js";
import { stampBatch } from "../../protocol/record-batch.js";
import { ProposalDroppedError, RawNode, bootstrapState, type StateRole } from "../raft/index.js";
import { RaftLogStorage, SegmentLog } from "../log/index.js";
import { AckWaiters, type TermAt } from "./ack-waiters.js";
import { DedupIndex, type DedupEntry } from "./dedup-index.js";
import { ENTRY_HEADER_SIZE, batchProducer, encodeDataEntry, entryBatchId, entryOffsets, entryProducer, isDataEntry } from "./entry-codec.js";
import { validateFetchRequest, type FetchRequest, type FetchResult } from "./fetch-request.js";
import { HighWatermarkWaiters } from "./high-watermark-waiters.js";
import { FollowerLag, type FollowerLagReport } from "./follower-lag.js";
import { LeaderChangeEvents, type LeaderChange } from "./leader-events.js";
import { LostFollowerHandOff, mostCaughtUpVoter } from "./leadership-transfer.js";
import { notLeader } from "./not-leader.js";
import { partitionEntryCodec } from "./partition-codec.js";
import { checkSequence } from "./producer-sequence.js";
import { PartitionTail } from "./partition-tail.js";
import { validateProduceRequest, type Acks, type ProduceRequest, type ProduceResult } from "./produce-request.js";
import { RaftDriver } from "./raft-driver.js";
import { ReadIndexWaiters } from "./read-index-waiters.js";
import { CHECKPOINT_NS, checkpointValue, readCheckpoint } from "./replica-checkpoint.js";
import { validateReplicaOptions, type PartitionReplicaOptions } from "./replica-options.js";
import { Recovery, establishIncarnation, newIncarnation, writeIncarnation } from "./replica-recovery.js";

export class PartitionReplica {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly id: number;
  private readonly logger: Logger;
  private readonly o: PartitionReplicaOptions;
  private readonly maxBatchBytes: number;
  private readonly checkpointEvery: number;

  private readonly node: RawNode;
  private readonly driver: RaftDriver;
  private readonly unregister: () => void;
  private stopTicker: (() => void) | undefined;

  // Role, as of the last Ready handled (what produce and fetch trust).
  private role: StateRole = "follower";
  private leader = 0;
  private term = 0;
  /** Leader only: the offset the next proposed batch gets. Derived from the log tail on election. */
  private nextOffset = 0;
  private leaderTerm = 0;

  private applied: number;
  /** Membership as of `applied` (what the checkpoint records). */
  private confState: ConfState;
  /** Offset after the last applied data entry. */
  private hw: number;
  private lastCheckpointApplied: number;
  /** Index of the last membership change applied here (0: none since open). */
  private confIndex = 0;
  /** A checkpoint waits for the log to be durable up to `confIndex` (see `writeCheckpoint`). */
  private checkpointDue = false;

  /** The term of the entry at a Raft index now (an ack checks its entry is still the one proposed). */
  private readonly termAt: TermAt = (index) => this.node.log.term(index);
  private readonly acks: AckWaiters;
  private readonly reads: ReadIndexWaiters;
  private readonly fetchWaiters = new HighWatermarkWaiters();
  private readonly leaderEvents: LeaderChangeEvents;
  private readonly lostFollowers: LostFollowerHandOff;
  /** Leader only: follower lag and the in-sync replicas, sampled every `electionTick` ticks. */
  private readonly followerLag: FollowerLag;
  private ticksSinceLagSample = 0;
  /** Ticks since this replica last became leader (counted up to the election timeout). */
  private ticksAsLeader = 0;

  private failure: Error | undefined;
  private closed = false;
  /** Set while RECOVERING (see replica-recovery.ts). */
  private recovering: Recovery | undefined;
  private incarnation: string;

  private constructor(
    o: PartitionReplicaOptions,
    private readonly log: SegmentLog,
    storage: RaftLogStorage,
    private readonly tail: PartitionTail,
    private readonly dedup: DedupIndex,
    init: { applied: number; hw: number; hardState: HardState; confState: ConfState; incarnation: string; recovering?: Recovery },
  ) {
    this.o = o;
    this.topic = o.topic;
    this.partition = o.partition;
    this.group = `${o.topic}/${o.partition}`;
    this.id = o.brokerId;
    this.logger = o.logger.child({ component: "partition", group: this.group, broker: o.brokerId });
    this.maxBatchBytes = o.maxBatchBytes ?? o.router.transport.maxBatchBytes - 64 * 1024;
    this.checkpointEvery = o.checkpointEveryEntries ?? 1000;
    this.applied = init.applied;
    this.lastCheckpointApplied = init.applied;
    this.hw = init.hw;
    this.confState = init.confState;
    this.term = init.hardState.term;
    this.incarnation = init.incarnation;
    this.recovering = init.recovering;
    this.acks = new AckWaiters(o.produceTimeoutMs ?? 30_000);
    this.reads = new ReadIndexWaiters(o.brokerId, this.group);
    this.leaderEvents = new LeaderChangeEvents({ group: this.group, topic: o.topic, partition: o.partition }, this.logger);
    const electionTick = o.electionTick ?? 10;
    this.followerLag = new FollowerLag(o.brokerId, o.replicaLagMaxMs ?? 10_000);
    this.lostFollowers = new LostFollowerHandOff(o.brokerId, electionTick * (o.tickMs ?? 100), this.logger);
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
        // Acks and the high watermark follow the commit, not this node's own fsync: a leader whose
        // write is slower than two followers' answers from their quorum (see writeCheckpoint).
        applyBeforePersist: true,
      },
      storage,
    );
    this.driver = new RaftDriver(
      this.node,
      storage,
      o.stateStore,
      this.group,
      (m) => this.send(m),
      {
        isStopped: () => this.closed || this.failure !== undefined,
        failStop: (err) => this.failStop(err),
        onEntries: (entries) => this.onEntries(entries),
        onHardState: (hs) => {
          this.term = hs.term;
        },
        onSoftState: (role, leader) => this.onSoftState(role, leader),
        onCommitted: (entries) => this.apply(entries),
        afterApply: (readStates) => {
          this.reads.answer(readStates, this.applied);
          // After every Ready, not only one that applied entries: a heartbeat can complete recovery.
          if (this.recovering?.isCaughtUp(this.applied, this.term)) this.finishRecovery();
        },
        onPersisted: () => {
          this.acks.resolveDurable(this.node.log.persisted, this.termAt, this.leader);
          if (this.checkpointDue && this.node.log.persisted >= this.confIndex) void this.writeCheckpoint();
        },
      },
      init.hardState,
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
    const { incarnation, recovering, fresh } = await establishIncarnation({
      dir: options.dir,
      group,
      expectExisting: options.expectExisting === true,
      store,
      hardState: hs,
      checkpoint,
      log,
      logger,
    });
    // The membership comes from our checkpoint (the adapter's own is the snapshot's, which misses
    // changes applied since); a new replica has none yet and learns it from its log.
    const conf = checkpoint?.conf ?? emptyConfState();
    const maxTailBytes = options.maxTailBytes ?? 64 << 20;
    const storage = await RaftLogStorage.open({ group, log, state: store, codec: partitionEntryCodec, initialConfState: conf, tailCacheBytes: maxTailBytes });
    let hardState: HardState = hs ?? { term: 0, vote: 0, commit: 0 };
    if (fresh && !options.join) {
      // An initial member of a new group: the initial voters become committed entry 1, so a replica
      // added later learns them from the log like any other membership change.
      const boot = bootstrapState({ ...emptyConfState(), voters: options.voters });
      await storage.persist(boot);
      hardState = boot.hardState;
    }
    let applied = recovering ? 0 : Math.min(checkpoint?.applied ?? 0, hardState.commit, log.lastIndex);
    if (applied < log.firstIndex - 1) applied = log.firstIndex - 1;

    const dedup = new DedupIndex(options.dedupWindow ?? 10_000);
    const tail = await PartitionTail.open(log, maxTailBytes, options.dedupWindow ?? 10_000, Math.max(maxTailBytes, 64 << 20), (e) => {
      if (isDataEntry(e.entry)) dedup.add(entryBatchId(e.entry.data), dedupEntry(e.entry));
    });
    const hw = applied >= log.firstIndex ? tail.entryAt(applied)!.next : Number(log.logStartOffset);
    return new PartitionReplica(options, log, storage, tail, dedup, { applied, hw, hardState, confState: conf, incarnation, recovering });
  }

  // ------------------------------------------------------------------ inputs

  /** Out to a peer; appends to learners through the reassignment throttle, when there is one. */
  private send(m: Message): void {
    const throttle = this.o.learnerThrottle;
    if (throttle && m.type === MessageType.App && m.entries.length > 0 && this.confState.learners.includes(m.to)) {
      let bytes = 0;
      for (const e of m.entries) bytes += e.data.byteLength;
      throttle.send(bytes, () => this.o.router.send(m));
    } else this.o.router.send(m);
  }

  private step(m: Message): void {
    if (this.closed || this.failure) return;
    if (this.recovering && !this.recovering.admits(m, this.node.log.lastIndex())) return;
    if (this.role === "leader") this.followerLag.heard(m.from);
    if (m.type === MessageType.AppResp && m.reject && this.role === "leader") {
      const target = this.lostFollowers.check(m, this.node.status());
      if (target !== 0) this.node.transferLeader(target);
    }
    this.node.step(m);
    if (this.recovering) {
      const lastIndex = this.node.log.lastIndex();
      const lost = this.recovering.lostEntriesReply(m, this.id, lastIndex, this.node.log.term(lastIndex) ?? 0);
      if (lost) this.o.router.send(lost);
    }
    this.driver.scheduleDrain();
  }

  private tick(): void {
    if (this.closed || this.failure) return;
    // A recovering replica must not campaign; as a follower a tick does nothing else.
    if (this.recovering && this.role !== "leader") return;
    this.node.tick();
    const electionTick = this.o.electionTick ?? 10;
    // Every tick in a leader's first election timeout: its followers get into the ISR as soon as
    // they have answered (FollowerLag counts nobody in sync unheard), then once per election timeout.
    const sampleEvery = this.ticksAsLeader < electionTick ? 1 : electionTick;
    if (this.role === "leader" && ++this.ticksSinceLagSample >= sampleEvery) {
      this.ticksAsLeader = Math.min(electionTick, this.ticksAsLeader + this.ticksSinceLagSample);
      this.ticksSinceLagSample = 0;
      this.followerLag.sample(Date.now(), this.node.status());
    }
    // Most ticks of most groups change nothing (a follower counting towards its election
    // timeout): no drain for those.
    if (this.node.hasReady()) this.driver.scheduleDrain();
  }

  /** Campaigns now (tests, and leadership placement by the controller later). */
  campaign(): void {
    if (this.recovering || this.closed) return;
    this.node.campaign();
    this.driver.scheduleDrain();
  }

  /**
   * Proposes a membership change (leader only): add a learner, promote it, remove a replica — the
   * steps of a reassignment. Resolves when the change is proposed; it takes effect when applied
   * (`status().voters`), and the applied membership is checkpointed in LMDB.
   */
  proposeConfChange(cc: ConfChange): void {
    this.checkUsable();
    this.driver.drain();
    if (this.role !== "leader") throw notLeader(this.leader, `broker ${this.id} is a ${this.role} of ${this.group}`);
    try {
      this.node.proposeConfChange(cc);
    } catch (err) {
      if (err instanceof ProposalDroppedError) throw new FlotillaError("INVALID_REQUEST", err.message, { cause: err });
      throw err;
    }
    this.driver.scheduleDrain();
  }

  /**
   * Graceful shutdown's first step: if this replica leads, hands leadership to the most caught-up
   * live voter and waits (up to `timeoutMs`, default two election timeouts) until it has moved.
   * Resolves true when this replica no longer leads.
   */
  async handOffLeadership(timeoutMs?: number): Promise<boolean> {
    this.checkUsable();
    this.driver.drain();
    if (this.role !== "leader") return true;
    const target = mostCaughtUpVoter(this.node.status(), [this.id]);
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
    this.driver.scheduleDrain();
    return moved;
  }

  /** The membership as of the last applied entry: cheap, unlike `membership()`, for polling many groups. */
  get appliedConfState(): ConfState {
    return this.confState;
  }

  /** Leader only (undefined otherwise): what heartbeats report of a led partition, without `status()`'s cost. */
  leaderFigures(now: number): { term: number; highWatermark: number; logStartOffset: bigint; isr: number[] } | undefined {
    if (this.role !== "leader") return undefined;
    return { term: this.term, highWatermark: this.hw, logStartOffset: this.log.logStartOffset, isr: this.followerLag.inSync(now) };
  }

  /**
   * The group's membership as applied here, with the leader's replication progress (empty on a
   * follower): what the reassignment mover decides its next step from.
   */
  membership(): { confState: ConfState; commit: number; match: ReadonlyMap<number, number> } {
    const s = this.node.status();
    const match = new Map<number, number>();
    for (const [id, p] of s.progress ?? []) match.set(id, p.match);
    return { confState: s.confState, commit: s.hardState.commit, match };
  }

  /** Hands leadership to `to` (graceful shutdown, leader spreading). */
  transferLeader(to: number): void {
    this.node.transferLeader(to);
    this.driver.scheduleDrain();
  }

  // ------------------------------------------------------------------ what the driver hands over

  /** New log entries: the tail records their offsets (dropping a conflicting suffix), dedup their batch ids. */
  private onEntries(entries: Entry[]): void {
    this.tail.append(entries, (from) => this.onTruncate(from));
    for (const e of entries) {
      if (isDataEntry(e)) this.dedup.add(entryBatchId(e.data), dedupEntry(e));
    }
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
      const status = this.node.status();
      this.leaderTerm = status.hardState.term;
      this.followerLag.reset(Date.now(), status);
      this.ticksAsLeader = 0;
      this.ticksSinceLagSample = 0;
      this.term = this.leaderTerm;
      this.logger.info({ term: this.leaderTerm, nextOffset: this.nextOffset }, "became leader");
    } else if (wasLeader && role !== "leader") {
      this.logger.info({ term: this.term, leader }, "lost leadership");
      this.acks.rejectAll(notLeader(leader, "leadership changed before the batch was acknowledged; retry with the same batch id"));
    }
    if (leader !== this.leaderEvents.lastLeader && this.reads.size > 0) {
      // The core drops read requests on a term change; a forwarded one may be lost with the old
      // leader. Fail them now (retriable) rather than at their timeout.
      this.reads.rejectAll(notLeader(leader, "the leader changed while the read index was pending; retry"));
    }
    const isLeader = role === "leader";
    this.leaderEvents.publish(leader, isLeader, isLeader ? this.leaderTerm : this.term);
  }

  private apply(committed: Entry[]): void {
    let hw = this.hw;
    let confChanged = false;
    for (const e of committed) {
      if (e.type === EntryType.ConfChange) {
        const cs = this.node.applyConfChange(decodeConfChange(e.data));
        this.confState = cs;
        this.confIndex = e.index;
        confChanged = true;
        this.logger.info({ index: e.index, confState: cs }, "applied a membership change");
      } else if (isDataEntry(e)) {
        hw = entryOffsets(e.data).next;
      }
    }
    this.applied = committed[committed.length - 1].index;
    this.acks.resolveCommitted(this.applied, this.termAt, this.leader);
    if (hw !== this.hw) {
      this.hw = hw;
      this.fetchWaiters.wakeAll();
    }
    this.tail.trim(Math.min(this.applied, this.node.log.persisted));
    if (confChanged || this.applied - this.lastCheckpointApplied >= this.checkpointEvery) void this.writeCheckpoint();
  }

  /** A suffix from `from` on is being replaced: waiters for those entries were never acknowledged. */
  private onTruncate(from: number): void {
    this.dedup.truncateFrom(from);
    this.acks.rejectFrom(from, notLeader(this.leader, `the entry was truncated by a new leader before it committed; retry with the same batch id`));
  }

  /**
   * Records the applied index with the membership as of that index, and the hard state (its commit
   * clamped to the durable log, `RaftDriver.storableHardState`), in one LMDB transaction, so the
   * checkpoint's applied index never exceeds the stored commit.
   *
   * Entries are applied once committed, possibly before this node's own write of them is durable
   * (applyBeforePersist: a leader answers from its followers' quorum). A crash may then lose them
   * here, so the checkpoint records no more than the durable log: a restart resumes from the log
   * it finds, and entries it lost come again from the leader and are applied again. The membership
   * recorded must be the one in force at that index: while a membership change applied here is
   * not durable yet, the checkpoint waits for it (`onPersisted`).
   */
  private writeCheckpoint(): Promise<void> {
    if (this.recovering) return Promise.resolve();
    const at = Math.min(this.applied, this.node.log.persisted);
    this.checkpointDue = this.confIndex > at;
    if (this.checkpointDue) return Promise.resolve();
    this.lastCheckpointApplied = at;
    const value = checkpointValue({ incarnation: this.incarnation, applied: at, conf: this.confState });
    return this.o.stateStore
      .write({ hardStates: [[this.group, this.driver.storableHardState]], records: [[CHECKPOINT_NS, this.group, value]] })
      .catch((err: unknown) => this.failStop(err as Error));
  }

  private finishRecovery(): void {
    const was = this.recovering!;
    this.recovering = undefined;
    this.incarnation = newIncarnation();
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
    this.driver.stop();
    this.stopTicker?.();
    this.unregister();
    const e = new FlotillaError("STORAGE_ERROR", `partition ${this.group} failed: ${err.message}`, { cause: err });
    this.rejectAll(e);
  }

  private rejectAll(e: Error): void {
    this.acks.rejectAll(e);
    this.reads.rejectAll(e);
    this.fetchWaiters.wakeAll();
  }

  private checkUsable(): void {
    if (this.closed) throw new FlotillaError("NOT_LEADER", `partition replica ${this.group} on broker ${this.id} is closed`);
    if (this.failure) throw new FlotillaError("STORAGE_ERROR", `partition ${this.group} failed: ${this.failure.message}`, { cause: this.failure });
  }

  // ------------------------------------------------------------------ produce

  /**
   * Appends one producer batch (leader only). The hot path, step by step:
   * 1. Checks, before anything is touched (`validateProduceRequest`): a 16-byte batch id, the size
   *    limit (BATCH_TOO_LARGE), `validateProducedBatch` — one batch, CRC-32C, record count vs bytes
   *    (CORRUPT_BATCH).
   * 2. Drains pending Readies so the role is current, then refuses unless this replica leads
   *    (NOT_LEADER with the leader it knows).
   * 3. Dedup: a batch id already in the log (committed or not, within the window) returns the
   *    ORIGINAL base offset and appends nothing; acks are then answered for that original entry.
   *    A batch of an idempotent producer must then follow that producer's last batch in the log
   *    (`checkSequence`, producer-sequence.ts): a gap is a retriable OUT_OF_ORDER_SEQUENCE, so a
   *    producer's batches land in its order even when one request of several in flight was lost.
   * 4. Offsets: base = `nextOffset`, then `nextOffset += recordCount`. The batch is copied once into
   *    the Raft entry (17-byte header + batch) and stamped in place with the base offset and the
   *    leader epoch (= Raft term): both lie before the CRC'd range, so nothing is recomputed.
   * 5. `propose` appends it to the leader's Raft log synchronously, so batches are ordered as they
   *    arrived (a producer's in-flight batches keep their order). Nothing is awaited before this
   *    point, so no other produce can slip in between.
   * 6. The next drain (RaftDriver) hands the entry to the log (written and group-fsynced in the
   *    background) while the App messages go to the followers in parallel; followers append, fsync,
   *    and ack.
   * 7. acks=none answers now; acks=leader once the leader's own write is durable; acks=all once the
   *    entry is committed (durable on a majority: the leader and a follower, or both followers while
   *    the leader's own fsync still runs) and applied here, if it is still the same entry (same index and term);
   *    until then the produce waits in AckWaiters. A truncation or a lost leadership before that
   *    rejects with a retriable NOT_LEADER: the retry, with the same batch id, finds the original
   *    in the new leader's dedup index.
   */
  produce(req: ProduceRequest): Promise<ProduceResult> {
    try {
      this.checkUsable();
      const recordCount = validateProduceRequest(req, this.maxBatchBytes);
      this.driver.drain();
      if (this.role !== "leader") throw notLeader(this.leader, `broker ${this.id} is a ${this.role} of ${this.group}`);

      const dup = this.dedup.lookup(req.batchId);
      if (dup) return this.answerDuplicate(dup, req.acks);
      const producer = batchProducer(req.batch);
      if (producer) checkSequence(this.dedup.lastOfProducer(producer.producerId), producer);

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
      const entry: DedupEntry = { index, term, baseOffset: base, nextOffset: this.nextOffset, producer };
      this.dedup.add(req.batchId, entry);
      this.driver.scheduleDrain();
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
    return this.acks.wait(e, acks);
  }

  // ------------------------------------------------------------------ fetch

  /**
   * Raw batches from `offset` up to the high watermark. Offsets below the log start or past the
   * log's end (once a read index has confirmed this replica still leads) are OFFSET_OUT_OF_RANGE;
   * from the high watermark to the log's end the call long-polls
   * up to `maxWaitMs` for `minBytes`. (A new leader's high watermark lags its predecessor's until
   * its no-op commits, while a reader may already be past it: that reader must wait, not be told
   * its offset does not exist.) The tail is served from memory, older data from the segment files.
   */
  async fetch(req: FetchRequest): Promise<FetchResult> {
    this.checkUsable();
    validateFetchRequest(req);
    const minBytes = req.minBytes ?? 1;
    const offset = Number(req.offset);
    const deadline = Date.now() + req.maxWaitMs;
    let confirmed = this.o.linearizableFetch;
    if (confirmed) await this.readIndex(Math.max(req.maxWaitMs, 1000));
    for (;;) {
      this.checkUsable();
      const hw = this.hw;
      const start = Number(this.log.logStartOffset);
      const end = Math.max(hw, this.tail.endOffset);
      if (offset > end && !confirmed) {
        // A deposed leader that has not noticed yet (cut off from its group, still subscribed)
        // may hold a shorter log than a reader has already read: it must not tell that reader
        // its offset does not exist. A read index round proves leadership (or fails retriably).
        await this.readIndex(Math.max(req.maxWaitMs, 1000));
        confirmed = true;
        continue;
      }
      if (offset < start || offset > end) {
        throw new FlotillaError("OFFSET_OUT_OF_RANGE", `offset ${offset} is outside [${start}, ${end}] (log start, log end)`);
      }
      const headroom = req.headroom ?? 0;
      const buffer = offset < hw ? await this.readBatches(offset, req.maxBytes, hw, headroom, req.alloc ?? Buffer.allocUnsafe) : Buffer.alloc(headroom);
      const left = deadline - Date.now();
      if (buffer.length - headroom >= minBytes || left <= 0) {
        return { highWatermark: BigInt(this.hw), logStartOffset: BigInt(start), batches: buffer.subarray(headroom), buffer };
      }
      await this.waitForHw(hw, left);
    }
  }

  /** The batches at `headroom` in a buffer of their own (see FetchResult). */
  private async readBatches(offset: number, maxBytes: number, hw: number, headroom: number, alloc: (size: number) => Buffer): Promise<Buffer> {
    const fromTail = this.tail.readTail(offset, maxBytes, hw);
    if (!fromTail) return this.log.read(BigInt(offset), maxBytes, BigInt(hw), headroom, alloc);
    const out = alloc(headroom + fromTail.reduce((n, b) => n + b.length, 0));
    let at = headroom;
    for (const b of fromTail) at += b.copy(out, at);
    return out;
  }

  /** Resolves when the high watermark moves past `hw`, after `ms`, or on close. */
  private waitForHw(hw: number, ms: number): Promise<void> {
    if (this.hw !== hw || this.closed || this.failure) return Promise.resolve();
    return this.fetchWaiters.wait(ms);
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
    return this.reads.request(timeoutMs, (ctx) => {
      try {
        this.node.readIndex(ctx);
      } catch (err) {
        throw err instanceof ProposalDroppedError ? notLeader(this.leader, err.message) : err;
      }
      this.driver.scheduleDrain();
    });
  }

  // ------------------------------------------------------------------ events and status

  /** Calls `listener` on every leadership change seen by this replica; returns an unsubscribe. */
  onLeaderChange(listener: (e: LeaderChange) => void): () => void {
    return this.leaderEvents.subscribe(listener);
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
    /** Leader only: the replicas in sync with it (itself first), and each follower's lag. */
    isr?: number[];
    followers?: FollowerLagReport[];
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
      ...(this.role === "leader" && { isr: this.followerLag.inSync(Date.now()), followers: this.followerLag.report(Date.now()) }),
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
    this.driver.stop();
    if (graceful) {
      this.driver.drain();
      await this.driver.writesDone();
      await this.writeCheckpoint();
    }
    this.closed = true;
    this.rejectAll(new FlotillaError("NOT_LEADER", `partition replica ${this.group} on broker ${this.id} closed`));
    await this.log.close();
  }
}

/** What the dedup index records of a data entry. */
function dedupEntry(e: Entry): DedupEntry {
  const o = entryOffsets(e.data);
  return { index: e.index, term: e.term, baseOffset: o.base, nextOffset: o.next, producer: entryProducer(e.data) };
}

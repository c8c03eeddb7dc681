/**
 * SegmentLog: one partition replica's log, which is also its Raft log.
 *
 * On disk, a directory of segment files (`<base offset, 20 digits>.log`) holding frames (see
 * `frame.ts`: one Raft entry each, a record batch or a control entry, with its Raft index, term,
 * offset and batch id), plus a sparse index per sealed segment (`.index`, see `segment-index.ts`).
 * The offset ↔ Raft index mapping is in every frame header, so it survives restarts with the data
 * it describes and never has to be re-derived by counting. A log emptied by truncation or by a
 * snapshot reset keeps its next index and offset in a small `log-start` file.
 *
 * The append path, step by step:
 * 1. `append(entries)` queues the entries and returns a promise for their durability. Nothing is
 *    checked or copied on the caller's turn.
 * 2. The write pump (one per log, so writes and truncations stay in order) takes every queued
 *    append, checks each continues the log (Raft index + 1, base offset = next offset), builds a
 *    52-byte header per entry, rolls the segment if it is full, and writes all headers and payloads
 *    with one positioned `writev` on the libuv pool. A slow disk delays the pump, never the event
 *    loop; appends that arrive meanwhile coalesce into the next write.
 * 3. When the write completes, the segment's in-memory state (length, index, last index/offset)
 *    moves forward, so readers only ever see whole frames, and the file is handed to the broker's
 *    GroupCommitter, which fdatasyncs it on a worker thread in a flush cycle that starts after the
 *    write (shared with every other file that is dirty by then).
 * 4. When that cycle finishes, every append covered by the write resolves, in append order.
 *
 * Any write or fsync failure is fail-stop (see `log-error.ts`): later appends are refused, nothing
 * written before is touched, and reopening recovers.
 *
 * Recovery on open: sealed segments with a valid index file are trusted after re-checking their
 * last frame; others, and always the last segment, are scanned frame by frame with both CRCs. The
 * first bad frame ends the log: the file is cut there, later segments are deleted, and what was cut
 * is logged. Retention deletes whole segments from the front; suffix truncation (Raft conflicts)
 * cuts from a Raft index; compaction (in a worker) swaps rewritten sealed segments in by rename.
 */
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { writev } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { pino } from "pino";
import { fileSize, FileRef, openFileRef, truncateFile } from "./file-ref.js";
import { encodeFrame, FrameKind, frameBatchId, FRAME_HEADER_SIZE, type FrameHeader, type FrameInput } from "./frame.js";
import { BatchGather } from "./batch-gather.js";
import { FrameScanner } from "./frame-scanner.js";
import type { GroupCommitter } from "./group-committer.js";
import type { LogWorkerPool } from "./log-worker-pool.js";
import type { BatchIdEntry } from "./batch-id-scan.js";
import { COMPACTING_SUFFIX } from "./compaction.js";
import { ioError, LogError, LogErrorCode } from "./log-error.js";
import { Segment, INDEX_SUFFIX, indexPath, parseSegmentName, SEGMENT_SUFFIX, segmentPath } from "./segment.js";
import { SegmentIndex } from "./segment-index.js";

/** One Raft entry to append: a record batch (offsets stamped) or a control entry (no offsets). */
export type AppendEntry =
  | { kind: "batch"; index: number; term: number; batch: Buffer; batchId?: Uint8Array; entryType?: number }
  | { kind: "control"; index: number; term: number; entryType: number; data: Uint8Array };

/** An entry read back from the log. `payload` is a copy the caller may keep. */
export interface StoredEntry {
  /** "compacted": a batch entry compaction rewrote; its payload is zero or more batches. */
  kind: "batch" | "control" | "compacted";
  index: number;
  term: number;
  entryType: number;
  /** Batch: its base offset. Control: the log's next offset when it was appended. */
  offset: bigint;
  /** Batch: the producer's batch id (zeros if none was given). */
  batchId?: Buffer;
  payload: Buffer;
}

/** The narrow I/O seam: the one syscall on the append path, replaceable to inject disk faults. */
export interface LogIo {
  writev(fd: number, buffers: Buffer[], position: number): Promise<number>;
}

const nodeIo: LogIo = {
  writev: (fd, buffers, position) =>
    new Promise((resolve, reject) => writev(fd, buffers, position, (err, n) => (err ? reject(err) : resolve(n)))),
};

export interface SegmentLogOptions {
  dir: string;
  committer: GroupCommitter;
  logger?: Logger;
  /** Roll to a new segment past this many bytes. Default 64 MiB. */
  segmentBytes?: number;
  /** Roll a segment older than this (so time retention can delete it). Default 7 days. */
  segmentMs?: number;
  /** Bytes between sparse index points. Default 4 KiB. */
  indexIntervalBytes?: number;
  /** Where an empty log starts: the Raft index and offset of its first entry. Default 1 and 0. */
  initialIndex?: number;
  initialOffset?: bigint;
  io?: LogIo;
}

export interface CompactionOptions {
  pool: LogWorkerPool;
  /** Highest Raft index covered by a snapshot (committed, never read by Raft again). */
  maxIndex: number;
  now: number;
  /** How long a tombstone stays readable after its timestamp before compaction drops it. */
  tombstoneRetentionMs: number;
}

export interface CompactionReport {
  segmentsRewritten: number;
  recordsRemoved: number;
}

export interface RetentionPolicy {
  now: number;
  /** Delete segments whose newest record is older than this. */
  retentionMs?: number;
  /** Delete the oldest segments while the log stays at least this big without them. */
  retentionBytes?: number;
  /** Never delete a segment holding an entry above this Raft index (e.g. not yet snapshotted). */
  maxIndex?: number;
}

interface Deferred {
  resolve: () => void;
  reject: (err: Error) => void;
}

interface AppendOp extends Deferred {
  type: "append";
  entries: AppendEntry[];
  /** Entries of this op already written (an op may span a segment roll). */
  written: number;
  /** Frames built when the op was checked; undefined until then. */
  frames?: Array<{ header: Buffer; payload: Buffer; info: FrameHeader }>;
}

interface TaskOp extends Deferred {
  type: "task";
  run: () => Promise<void>;
}

type Op = AppendOp | TaskOp;

interface AwaitingDurability extends Deferred {
  /** The write whose sync makes this op durable. */
  writeSeq: number;
  /** Raft index of the op's last entry (-1 for a flush): what a truncation compares. */
  lastIndex: number;
}

let fallbackLogger: Logger | undefined;

/** Warnings and errors to stderr, for logs opened without a logger (one for the process). */
function defaultLogger(): Logger {
  fallbackLogger ??= pino({ level: "warn" }, pino.destination(2));
  return fallbackLogger;
}

/** Where an empty log records its next index and offset (see `writeEmptyStart`). */
const EMPTY_START_FILE = "log-start";

/** Most entries and bytes one writev carries (1024 iovecs is Linux's IOV_MAX). */
const MAX_WRITE_FRAMES = 512;
const MAX_WRITE_BYTES = 16 * 1024 * 1024;

export class SegmentLog {
  private readonly dir: string;
  private readonly committer: GroupCommitter;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private readonly segmentMs: number;
  private readonly intervalBytes: number;
  private readonly io: LogIo;
  /** Sorted by base offset (and Raft index); the last one is the active segment. */
  private segments: Segment[] = [];
  /** Where the next entry goes when there are no segments. */
  private emptyNext: { index: number; offset: number };
  /** Set by `recover`; synced after segment files are created or deleted. */
  private dirRef!: FileRef;
  private dirDirty = false;

  private queue: Op[] = [];
  private pumping = false;
  /** The pump's view of the end, ahead of the written state while a write is in flight. */
  private tail = { index: 0, term: 0, offset: 0 };
  private writeSeq = 0;
  private durableSeq = 0;
  private awaiting: AwaitingDurability[] = [];
  private failure: LogError | undefined;
  /** The compaction running now, if any (see `compact`). */
  private compaction: Promise<CompactionReport> | undefined;
  private closed = false;

  private constructor(options: SegmentLogOptions) {
    this.dir = options.dir;
    this.committer = options.committer;
    this.log = (options.logger ?? defaultLogger()).child({ component: "segment-log", dir: options.dir });
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.segmentMs = options.segmentMs ?? 7 * 24 * 3600 * 1000;
    this.intervalBytes = options.indexIntervalBytes ?? 4096;
    this.io = options.io ?? nodeIo;
    this.emptyNext = { index: options.initialIndex ?? 1, offset: Number(options.initialOffset ?? 0n) };
  }

  /** Opens (creating if needed) and recovers the log in `options.dir`. */
  static async open(options: SegmentLogOptions): Promise<SegmentLog> {
    const log = new SegmentLog(options);
    try {
      await log.recover();
    } catch (err) {
      for (const seg of log.segments) await seg.file.close().catch(() => undefined);
      await log.dirRef?.close().catch(() => undefined);
      throw err instanceof LogError ? err : ioError(`open log ${options.dir}`, err);
    }
    return log;
  }

  // ---- state (whole written frames only) ----

  /** Raft index of the first entry (or of the next one when the log is empty). */
  get firstIndex(): number {
    return this.segments.length > 0 ? this.segments[0].baseIndex : this.emptyNext.index;
  }

  /** Raft index of the last written entry (firstIndex - 1 when empty). */
  get lastIndex(): number {
    return this.segments.length > 0 ? this.active().lastIndex : this.emptyNext.index - 1;
  }

  /** Term of the last written entry, or undefined when the log is empty. */
  get lastTerm(): number | undefined {
    return this.segments.length > 0 ? this.active().lastTerm : undefined;
  }

  /** The first offset still in the log. */
  get logStartOffset(): bigint {
    return BigInt(this.segments.length > 0 ? this.segments[0].baseOffset : this.emptyNext.offset);
  }

  /** The offset the next record will get (the log end offset). */
  get nextOffset(): bigint {
    return BigInt(this.segments.length > 0 ? this.active().nextOffset : this.emptyNext.offset);
  }

  get sizeBytes(): number {
    return this.segments.reduce((n, s) => n + s.length, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Term of the entry at Raft index `i`, or undefined outside [firstIndex, lastIndex]. */
  termAt(i: number): number | undefined {
    const seg = this.segmentForIndex(i);
    return seg && i <= seg.lastIndex ? seg.termAt(i) : undefined;
  }

  private active(): Segment {
    return this.segments[this.segments.length - 1];
  }

  // ---- append ----

  /**
   * Appends entries (in Raft index order, continuing the log) and resolves once they are on disk.
   * Rejects with a LogError: NON_CONTIGUOUS if they do not continue the log, INVALID_ENTRY if a
   * batch does not parse, TRUNCATED if a later
   * truncation removed them first, DISK_FULL / READ_ONLY / IO_ERROR / LOG_FAILED on I/O failure.
   */
  append(entries: AppendEntry[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.enqueue({ type: "append", entries, written: 0, resolve, reject });
    });
  }

  /** Resolves when everything appended before this call is durable. */
  flush(): Promise<void> {
    return this.append([]);
  }

  private enqueue(op: Op): void {
    if (this.closed) op.reject(new LogError(LogErrorCode.Closed, `log ${this.dir} is closed`));
    else if (this.failure) op.reject(this.failedError());
    else {
      this.queue.push(op);
      void this.pump();
    }
  }

  private failedError(): LogError {
    return new LogError(LogErrorCode.LogFailed, `log ${this.dir} failed earlier (${this.failure?.message}); reopen it`, { cause: this.failure });
  }

  private runTask(run: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ type: "task", run, resolve, reject }));
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        if (this.failure) {
          for (const op of this.queue.splice(0)) op.reject(this.failedError());
          break;
        }
        const op = this.queue[0];
        if (op.type === "task") {
          this.queue.shift();
          try {
            await op.run();
            op.resolve();
          } catch (err) {
            op.reject(err as Error);
          }
        } else {
          await this.writeQueuedAppends();
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Checks an op against the pump's tail and builds its frames; false (op rejected) if it does not fit. */
  private prepare(op: AppendOp): boolean {
    const tail = { ...this.tail };
    const frames: NonNullable<AppendOp["frames"]> = [];
    try {
      for (const e of op.entries) {
        if (e.index !== tail.index + 1) throw new LogError(LogErrorCode.NonContiguous, `entry index ${e.index} does not follow ${tail.index}`);
        if (e.term < tail.term) throw new LogError(LogErrorCode.NonContiguous, `entry ${e.index} has term ${e.term} below ${tail.term}`);
        const input: FrameInput =
          e.kind === "batch"
            ? { kind: FrameKind.Batch, index: e.index, term: e.term, entryType: e.entryType ?? 0, batch: e.batch, batchId: e.batchId }
            : { kind: FrameKind.Control, index: e.index, term: e.term, entryType: e.entryType, data: e.data };
        const frame = encodeFrame(input, tail.offset);
        if (frame.info.offset !== tail.offset) {
          throw new LogError(LogErrorCode.NonContiguous, `batch at index ${e.index} has base offset ${frame.info.offset}, the log is at ${tail.offset}`);
        }
        frames.push(frame);
        tail.index = e.index;
        tail.term = e.term;
        tail.offset = frame.info.nextOffset;
      }
    } catch (err) {
      op.reject(err instanceof LogError ? err : new LogError(LogErrorCode.InvalidEntry, (err as Error).message, { cause: err }));
      return false;
    }
    op.frames = frames;
    this.tail = tail;
    return true;
  }

  private needsRoll(seg: Segment, pendingBytes: number, frame: FrameHeader): boolean {
    const size = seg.length + pendingBytes;
    if (size === 0) return false;
    // A segment is named by its base offset, so never roll to a segment with the same base
    // offset (a run of control frames takes no offsets): grow this one a little instead.
    if (frame.offset <= seg.baseOffset) return false;
    return size + frame.length > this.segmentBytes || Date.now() - seg.openedAt > this.segmentMs;
  }

  /** One pass of the pump: takes queued appends up to a roll or a task, and writes them at once. */
  private async writeQueuedAppends(): Promise<void> {
    const first = this.queue[0] as AppendOp;
    if (!first.frames && !this.prepare(first)) {
      this.queue.shift();
      return;
    }
    if (first.entries.length === 0) {
      this.queue.shift();
      this.awaitDurable(first, this.writeSeq);
      return;
    }
    let seg = this.segments.length > 0 ? this.active() : undefined;
    const firstFrame = first.frames![first.written].info;
    if (!seg || this.needsRoll(seg, 0, firstFrame)) {
      if (seg) await this.seal(seg);
      seg = await this.createSegment(firstFrame);
      if (!seg) return;
    }
    const position = seg.length;
    const buffers: Buffer[] = [];
    const infos: FrameHeader[] = [];
    const completed: AppendOp[] = [];
    let bytes = 0;
    gather: while (this.queue.length > 0) {
      const op = this.queue[0];
      if (op.type !== "append") break;
      if (!op.frames && !this.prepare(op)) {
        this.queue.shift();
        continue;
      }
      const frames = op.frames!;
      while (op.written < frames.length) {
        const f = frames[op.written];
        if (infos.length > 0 && (this.needsRoll(seg, bytes, f.info) || infos.length >= MAX_WRITE_FRAMES || bytes + f.info.length > MAX_WRITE_BYTES)) {
          break gather;
        }
        buffers.push(f.header, f.payload);
        infos.push(f.info);
        bytes += f.info.length;
        op.written++;
      }
      this.queue.shift();
      completed.push(op);
    }
    if (infos.length === 0) {
      for (const op of completed) this.awaitDurable(op, this.writeSeq);
      return;
    }
    let n: number;
    try {
      n = await this.io.writev(seg.file.fd, buffers, position);
    } catch (err) {
      this.failWrite(ioError(`write to ${seg.path} at ${position}`, err), completed);
      return;
    }
    if (n !== bytes) {
      this.failWrite(new LogError(LogErrorCode.DiskFull, `short write to ${seg.path}: ${n} of ${bytes} bytes (disk full?)`), completed);
      return;
    }
    let at = position;
    for (const info of infos) {
      seg.addFrame(info, at);
      at += info.length;
    }
    const seq = ++this.writeSeq;
    for (const op of completed) this.awaitDurable(op, seq);
    this.requestSync(seg, seq);
  }

  /** The appends in a failed write get its error; the ones queued behind it get LOG_FAILED. */
  private failWrite(err: LogError, inWrite: AppendOp[]): void {
    this.fail(err);
    for (const op of inWrite) op.reject(err);
    const head = this.queue[0];
    if (head?.type === "append" && head.written > 0) {
      this.queue.shift();
      head.reject(err);
    }
  }

  private awaitDurable(op: AppendOp, writeSeq: number): void {
    if (writeSeq <= this.durableSeq) {
      op.resolve();
      return;
    }
    const lastIndex = op.entries.length > 0 ? op.entries[op.entries.length - 1].index : -1;
    this.awaiting.push({ writeSeq, lastIndex, resolve: op.resolve, reject: op.reject });
  }

  /** Hands the segment (and the directory, after creates and deletes) to the group committer. */
  private requestSync(seg: Segment, seq: number): void {
    const files = [seg.file];
    if (this.dirDirty) {
      files.push(this.dirRef);
      this.dirDirty = false;
    }
    let pending = files.length;
    for (const f of files) {
      this.committer.sync(f, (err) => {
        if (err) this.fail(ioError(`fdatasync of ${f.path}`, err));
        else if (--pending === 0 && !this.failure) this.onDurable(seq);
      });
    }
  }

  private onDurable(seq: number): void {
    if (seq <= this.durableSeq) return;
    this.durableSeq = seq;
    let i = 0;
    while (i < this.awaiting.length && this.awaiting[i].writeSeq <= seq) this.awaiting[i++].resolve();
    this.awaiting.splice(0, i);
  }

  private fail(err: LogError): void {
    if (this.failure) return;
    this.failure = err;
    this.log.error({ err }, "log failed: refusing appends until reopened");
    for (const w of this.awaiting.splice(0)) w.reject(err);
  }

  /** Opens a new segment whose first frame will be `first`. Undefined (log failed) on error. */
  private async createSegment(first: FrameHeader): Promise<Segment | undefined> {
    const path = segmentPath(this.dir, first.offset);
    let file: FileRef;
    try {
      // "w+": a file of that name can only be a leftover of a deleted segment; start it empty.
      file = await openFileRef(path, "w+");
    } catch (err) {
      const e = ioError(`create ${path}`, err);
      this.fail(e);
      for (const op of this.queue.splice(0)) op.reject(e);
      return undefined;
    }
    const seg = new Segment(path, first.offset, first.index, file, new SegmentIndex(this.intervalBytes));
    this.segments.push(seg);
    this.dirDirty = true;
    return seg;
  }

  /** Writes the index file of a segment that will get no more appends (best effort: it is a cache). */
  private async seal(seg: Segment): Promise<void> {
    try {
      await writeFile(indexPath(this.dir, seg.baseOffset), seg.index.encode(seg.summary()));
    } catch (err) {
      this.log.warn({ err, segment: seg.path }, "could not write the segment index; it will be rebuilt on open");
    }
  }

  // ---- truncation and retention ----

  /**
   * Removes the entries at Raft index `index` and above (Raft's uncommitted suffix). Appends still
   * waiting for durability that it removes reject with TRUNCATED. Resolves once the files are cut.
   */
  truncateFromIndex(index: number): Promise<void> {
    return this.runTask(() => this.truncateNow(index));
  }

  /** Removes every batch holding `offset` or a later offset, and every entry after them. */
  truncateFromOffset(offset: bigint): Promise<void> {
    return this.runTask(async () => {
      const target = Number(offset);
      const found = await this.findFrame((h) => h.kind === FrameKind.Batch && h.nextOffset > target, this.segmentForOffset(target));
      if (found !== undefined) await this.truncateNow(found.index);
    });
  }

  private async truncateNow(index: number): Promise<void> {
    if (index > this.lastIndex) return;
    if (index < this.firstIndex) {
      throw new LogError(LogErrorCode.OutOfRange, `cannot truncate from ${index}: the log starts at ${this.firstIndex}`);
    }
    // Appends not yet durable that lose any entry reject; the rest still wait for their sync.
    const truncated = new LogError(LogErrorCode.Truncated, `entries from ${index} were truncated before they were durable`);
    this.awaiting = this.awaiting.filter((w) => {
      if (w.lastIndex < index) return true;
      w.reject(truncated);
      return false;
    });
    // An emptied log must still know where it continues, after a restart too.
    if (index === this.firstIndex) await this.writeEmptyStart({ index, offset: this.segments[0].baseOffset });
    // Delete whole segments from the newest down, so a crash midway leaves a prefix of the log.
    while (this.segments.length > 0 && this.active().baseIndex >= index) {
      const seg = this.segments.pop()!;
      this.emptyNext = { index: seg.baseIndex, offset: seg.baseOffset };
      await this.deleteSegmentFiles(seg);
    }
    if (this.segments.length > 0 && this.active().lastIndex >= index) {
      const seg = this.active();
      const rebuilt = await this.rescan(seg, index);
      try {
        await truncateFile(seg.file, rebuilt.length);
      } catch (err) {
        this.fail(ioError(`truncate ${seg.path}`, err));
        throw this.failure;
      }
      // The segment is active again: a sealed index file would describe the old length.
      await rm(indexPath(this.dir, seg.baseOffset), { force: true });
      this.segments[this.segments.length - 1] = rebuilt;
      this.requestSync(rebuilt, this.writeSeq);
    }
    this.tail = this.endState();
    this.log.info({ fromIndex: index, lastIndex: this.lastIndex }, "truncated log suffix");
  }

  /** Re-reads `seg` from its start, keeping only frames below Raft index `stop`. */
  private async rescan(seg: Segment, stop: number): Promise<Segment> {
    const fresh = new Segment(seg.path, seg.baseOffset, seg.baseIndex, seg.file, new SegmentIndex(this.intervalBytes));
    const scanner = new FrameScanner(seg.file.fd, 0, seg.length, false);
    for (;;) {
      const step = await scanner.next();
      if (step.type !== "frame" || step.header.index >= stop) break;
      fresh.addFrame(step.header, step.position);
    }
    return fresh;
  }

  private endState(): { index: number; term: number; offset: number } {
    if (this.segments.length === 0) return { index: this.emptyNext.index - 1, term: 0, offset: this.emptyNext.offset };
    const a = this.active();
    return { index: a.lastIndex, term: a.lastTerm, offset: a.nextOffset };
  }

  /**
   * Deletes whole segments from the front by time and size; never the active segment. Returns how
   * many segments were deleted.
   */
  enforceRetention(policy: RetentionPolicy): Promise<number> {
    let deleted = 0;
    return this.runTask(async () => {
      let total = this.sizeBytes;
      while (this.segments.length > 1) {
        const seg = this.segments[0];
        if (policy.maxIndex !== undefined && seg.lastIndex > policy.maxIndex) break;
        const expired = policy.retentionMs !== undefined && seg.maxTimestamp < policy.now - policy.retentionMs;
        const oversize = policy.retentionBytes !== undefined && total - seg.length >= policy.retentionBytes;
        if (!expired && !oversize) break;
        this.segments.shift();
        total -= seg.length;
        await this.deleteSegmentFiles(seg);
        deleted++;
        this.log.info({ segment: seg.path, expired, oversize }, "retention deleted segment");
      }
    }).then(() => deleted);
  }

  /**
   * Compacts (`cleanup.policy=compact`) the sealed segments whose entries are all at or below
   * `maxIndex`, in the compaction pool; appends go on meanwhile. The rewritten files replace the
   * old ones by rename, in the write pump, so readers see either the old or the new segment whole.
   * A call while a compaction of this log runs returns that compaction.
   */
  compact(options: CompactionOptions): Promise<CompactionReport> {
    // One at a time per log: two runs would write the same `.compacting` files.
    this.compaction ??= this.compactNow(options).finally(() => (this.compaction = undefined));
    return this.compaction;
  }

  private async compactNow(options: CompactionOptions): Promise<CompactionReport> {
    const eligible: Segment[] = [];
    for (const seg of this.segments.slice(0, -1)) {
      if (seg.lastIndex > options.maxIndex) break;
      eligible.push(seg);
    }
    if (eligible.length === 0) return { segmentsRewritten: 0, recordsRemoved: 0 };
    const results = await options.pool.compact({
      segments: eligible.map((s) => ({ path: s.path, length: s.length })),
      newer: this.segments.slice(eligible.length).map((s) => ({ path: s.path, length: s.length })),
      maxIndex: options.maxIndex,
      now: options.now,
      tombstoneRetentionMs: options.tombstoneRetentionMs,
      indexIntervalBytes: this.intervalBytes,
    });
    const report: CompactionReport = { segmentsRewritten: 0, recordsRemoved: 0 };
    await this.runTask(async () => {
      for (const [i, r] of results.entries()) {
        if (!r.tmpPath || !r.index) continue;
        const old = eligible[i];
        const at = this.segments.indexOf(old);
        const decoded = SegmentIndex.decode(Buffer.from(r.index.buffer, r.index.byteOffset, r.index.byteLength), this.intervalBytes);
        if (at < 0 || !decoded) {
          // Deleted by retention meanwhile: the rewrite is moot.
          await rm(r.tmpPath, { force: true });
          continue;
        }
        // The old index must not outlive the rename (it would describe the old bytes).
        await rm(indexPath(this.dir, old.baseOffset), { force: true });
        await rename(r.tmpPath, old.path);
        const file = await openFileRef(old.path, "r+");
        const seg = new Segment(old.path, old.baseOffset, old.baseIndex, file, decoded.index);
        seg.adopt(decoded.summary);
        this.segments[at] = seg;
        await this.seal(seg);
        this.dirDirty = true;
        await old.file.close();
        report.segmentsRewritten++;
        report.recordsRemoved += r.recordsRemoved;
      }
    });
    if (report.segmentsRewritten > 0) this.log.info({ ...report }, "compacted log segments");
    return report;
  }

  /**
   * The batch ids of data entries from Raft index `fromIndex` on (committed or not), read in the
   * worker pool: what a partition rebuilds its dedup index from on becoming leader, and what it
   * puts in a snapshot. Entries appended with no batch id are left out.
   */
  scanBatchIds(pool: LogWorkerPool, fromIndex: number): Promise<BatchIdEntry[]> {
    const first = this.segmentForIndex(Math.max(fromIndex, this.firstIndex));
    const from = first ? this.segments.indexOf(first) : this.segments.length;
    return pool.scanBatchIds({ segments: this.segments.slice(from).map((s) => ({ path: s.path, length: s.length })), fromIndex });
  }

  /**
   * Drops the whole log and starts it empty at (`index`, `offset`): for a follower that installs a
   * snapshot past its log. Resolves once the files are gone.
   */
  reset(index: number, offset: bigint): Promise<void> {
    return this.runTask(async () => {
      for (const w of this.awaiting.splice(0)) w.reject(new LogError(LogErrorCode.Truncated, "log reset by a snapshot"));
      await this.writeEmptyStart({ index, offset: Number(offset) });
      while (this.segments.length > 0) await this.deleteSegmentFiles(this.segments.pop()!);
      this.emptyNext = { index, offset: Number(offset) };
      this.tail = this.endState();
    });
  }

  /**
   * Records where an empty log continues (`log-start`: `{"index":…,"offset":…}`), written before
   * the segments are deleted so that a crash in between leaves either the old log or the marker.
   * It is read only when the directory has no segment, so a stale one is harmless.
   */
  private async writeEmptyStart(start: { index: number; offset: number }): Promise<void> {
    const path = join(this.dir, EMPTY_START_FILE);
    const tmp = await open(path + ".tmp", "w");
    try {
      await tmp.writeFile(JSON.stringify(start));
      // Synced before the rename (on the libuv pool, off the event loop): the rename must never
      // expose an empty file. The rename itself is covered by the next directory sync.
      await tmp.datasync();
    } finally {
      await tmp.close();
    }
    await rename(path + ".tmp", path);
    this.dirDirty = true;
  }

  private async readEmptyStart(): Promise<{ index: number; offset: number } | undefined> {
    try {
      const parsed = JSON.parse(await readFile(join(this.dir, EMPTY_START_FILE), "utf8")) as { index?: unknown; offset?: unknown };
      const { index, offset } = parsed;
      return Number.isSafeInteger(index) && Number.isSafeInteger(offset) ? { index: index as number, offset: offset as number } : undefined;
    } catch {
      return undefined;
    }
  }

  private async deleteSegmentFiles(seg: Segment): Promise<void> {
    await rm(indexPath(this.dir, seg.baseOffset), { force: true });
    await rm(seg.path, { force: true });
    this.dirDirty = true;
    await seg.file.close();
  }

  // ---- reads ----

  private segmentForOffset(offset: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private segmentForIndex(index: number): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found: Segment | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].baseIndex <= index) {
        found = this.segments[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** Segments from position `from` on, each pinned; the caller unpins them. */
  private pinFrom(from: number): Segment[] {
    const segments = this.segments.slice(from);
    for (const seg of segments) seg.file.pin();
    return segments;
  }

  /** The first frame from segment `from` on that matches, or undefined. */
  private async findFrame(match: (h: FrameHeader) => boolean, from: number): Promise<FrameHeader | undefined> {
    for (let s = from; s < this.segments.length; s++) {
      const seg = this.segments[s];
      const scanner = new FrameScanner(seg.file.fd, 0, seg.length, false);
      for (;;) {
        const step = await scanner.next();
        if (step.type !== "frame") break;
        if (match(step.header)) return step.header;
      }
    }
    return undefined;
  }

  /**
   * Record batches from `offset` on, as raw bytes back to back: the batch holding `offset` first,
   * then whole batches while they fit in `maxBytes` (always at least one batch if there is any) and
   * start below `maxOffset` (the high watermark). Control entries are skipped. Empty at the end.
   * The batches start at `headroom` in the buffer returned: the bytes before are the caller's (a
   * fetch writes its response header there, so the batches are never copied again). `alloc` gives
   * the buffers (a fetch's come from a pool).
   */
  async read(offset: bigint, maxBytes: number, maxOffset?: bigint, headroom = 0, alloc: (size: number) => Buffer = Buffer.allocUnsafe): Promise<Buffer> {
    const target = Number(offset);
    const limit = maxOffset === undefined ? Infinity : Number(maxOffset);
    if (this.segments.length === 0 || target >= this.active().nextOffset) return Buffer.alloc(headroom);
    if (target < this.segments[0].baseOffset) {
      throw new LogError(LogErrorCode.OutOfRange, `offset ${offset} is below the log start ${this.segments[0].baseOffset}`);
    }
    const first = this.segmentForOffset(target);
    // Pinned up front: retention, truncation or compaction may swap segments out during the
    // awaits below, and a pinned file stays readable (its fd open) until the read is done.
    const segments = this.pinFrom(first);
    try {
      const start = segments[0].index.lookupOffset(target).position;
      const available = segments.reduce((sum, seg) => sum + seg.length, -start);
      const gather = new BatchGather(headroom, { target, limit, maxBytes }, available, alloc);
      for (const [i, seg] of segments.entries()) {
        await gather.scan(seg.file.fd, i === 0 ? start : 0, seg.length);
        if (gather.done) break;
      }
      return gather.result();
    } finally {
      for (const seg of segments) seg.file.unpin();
    }
  }

  /** Entries with Raft index in [lo, hi), up to about `maxBytes` of payload (at least one). */
  async readEntries(lo: number, hi: number, maxBytes: number): Promise<StoredEntry[]> {
    const c = new EntryCollector(lo, hi, maxBytes);
    const segments = this.entrySegments(lo);
    for (const { seg } of segments) seg.file.pin();
    try {
      for (const { seg, start } of segments) {
        const scanner = new FrameScanner(seg.file.fd, start, seg.length, false);
        let step = await scanner.next();
        while (step.type === "frame" && c.take(step.header, step.buf, step.at)) step = await scanner.next();
        if (c.done) break;
      }
    } finally {
      for (const { seg } of segments) seg.file.unpin();
    }
    return c.out;
  }

  /**
   * `readEntries` with blocking reads, for Raft's synchronous Storage. Raft asks for recent entries
   * (the page cache has them) unless a follower lags; `RaftLogStorage` serves the tail from memory.
   */
  readEntriesSync(lo: number, hi: number, maxBytes: number): StoredEntry[] {
    const c = new EntryCollector(lo, hi, maxBytes);
    for (const { seg, start } of this.entrySegments(lo)) {
      const scanner = new FrameScanner(seg.file.fd, start, seg.length, false);
      let step = scanner.nextSync();
      while (step.type === "frame" && c.take(step.header, step.buf, step.at)) step = scanner.nextSync();
      if (c.done) break;
    }
    return c.out;
  }

  /** The segments to scan for index `lo` on, with the position to start at in each. */
  private entrySegments(lo: number): Array<{ seg: Segment; start: number }> {
    if (lo < this.firstIndex) throw new LogError(LogErrorCode.OutOfRange, `index ${lo} is below the log start ${this.firstIndex}`);
    const first = this.segmentForIndex(lo);
    if (!first) return [];
    const from = this.segments.indexOf(first);
    return this.segments.slice(from).map((seg, i) => ({ seg, start: i === 0 ? seg.index.lookupIndex(lo).position : 0 }));
  }

  // ---- open and close ----

  private async recover(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.dirRef = await openFileRef(this.dir, "r");
    const names = await readdir(this.dir);
    const bases = names
      .map((n) => parseSegmentName(n, SEGMENT_SUFFIX))
      .filter((b): b is number => b !== undefined)
      .sort((a, b) => a - b);
    for (const n of names) {
      // A compaction that did not finish: the original segment is still in place.
      if (n.endsWith(COMPACTING_SUFFIX)) await rm(join(this.dir, n), { force: true });
      const b = parseSegmentName(n, INDEX_SUFFIX);
      if (b !== undefined && !bases.includes(b)) await rm(indexPath(this.dir, b), { force: true });
    }
    for (let k = 0; k < bases.length; k++) {
      const base = bases[k];
      const path = segmentPath(this.dir, base);
      const file = await openFileRef(path, "r+");
      const size = await fileSize(file);
      const isLast = k === bases.length - 1;
      const prev = this.segments.length > 0 ? this.active() : undefined;
      let seg = isLast ? undefined : await this.loadIndexed(path, base, file, size);
      let cutAt: number | undefined;
      if (!seg) {
        const scanned = await this.scanSegment(path, base, file, size, prev);
        seg = scanned.segment;
        cutAt = scanned.cutAt;
        if (!isLast && seg && cutAt === undefined) await this.seal(seg);
      } else if (prev && (seg.baseIndex !== prev.lastIndex + 1 || seg.baseOffset < prev.nextOffset)) {
        cutAt = 0;
        seg = undefined;
        this.log.error({ segment: path, prevLastIndex: prev.lastIndex }, "segment does not continue the one before it");
      }
      if (cutAt !== undefined) {
        this.log.warn({ segment: path, position: cutAt, bytesCut: size - cutAt }, "cut a torn or corrupt log tail");
        await truncateFile(file, cutAt);
        await rm(indexPath(this.dir, base), { force: true });
      }
      if (seg) this.segments.push(seg);
      else {
        await rm(path, { force: true });
        await file.close();
      }
      if (cutAt !== undefined && !isLast) {
        // A hole in the middle: nothing after it can be part of the log.
        for (const later of bases.slice(k + 1)) {
          this.log.error({ segment: segmentPath(this.dir, later) }, "deleted a segment that follows a corrupt one");
          await rm(indexPath(this.dir, later), { force: true });
          await rm(segmentPath(this.dir, later), { force: true });
        }
        break;
      }
    }
    if (this.segments.length > 0) {
      this.emptyNext = { index: this.active().lastIndex + 1, offset: this.active().nextOffset };
    } else {
      this.emptyNext = (await this.readEmptyStart()) ?? this.emptyNext;
    }
    this.tail = this.endState();
  }

  /** A sealed segment from its index file, if that is valid and its last frame still checks out. */
  private async loadIndexed(path: string, base: number, file: FileRef, size: number): Promise<Segment | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(indexPath(this.dir, base));
    } catch {
      return undefined;
    }
    const decoded = SegmentIndex.decode(bytes, this.intervalBytes);
    if (!decoded || decoded.summary.length !== size) return undefined;
    const first = decoded.index.lookupIndex(0);
    if (first.position !== 0 || first.offset !== base) return undefined;
    const scanner = new FrameScanner(file.fd, decoded.summary.lastFramePosition, size, true);
    const last = await scanner.next();
    if (last.type !== "frame" || last.header.index !== decoded.summary.lastIndex || last.position + last.header.length !== size) {
      return undefined;
    }
    const seg = new Segment(path, base, first.index, file, decoded.index);
    seg.adopt(decoded.summary);
    return seg;
  }

  /** Scans a segment verifying every frame; `cutAt` is where the good frames stop, if before the end. */
  private async scanSegment(
    path: string,
    base: number,
    file: FileRef,
    size: number,
    prev: Segment | undefined,
  ): Promise<{ segment?: Segment; cutAt?: number }> {
    const scanner = new FrameScanner(file.fd, 0, size, true);
    let seg: Segment | undefined;
    for (;;) {
      const step = await scanner.next();
      if (step.type === "end") return { segment: seg };
      if (step.type === "bad") {
        this.log.warn({ segment: path, position: step.position, reason: step.reason }, "bad frame found during recovery");
        return { segment: seg, cutAt: step.position };
      }
      const h = step.header;
      const last = seg ?? prev;
      const continues = last ? h.index === last.lastIndex + 1 && h.offset >= last.nextOffset && h.term >= last.lastTerm : true;
      if (!continues || (!seg && h.offset !== base)) {
        this.log.warn({ segment: path, position: step.position, index: h.index }, "frame does not continue the log");
        return { segment: seg, cutAt: step.position };
      }
      seg ??= new Segment(path, base, h.index, file, new SegmentIndex(this.intervalBytes));
      seg.addFrame(h, step.position);
    }
  }

  /** Waits for queued work and durability of every append, then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.failure) await this.flush().catch(() => undefined);
    this.closed = true;
    for (const w of this.awaiting.splice(0)) w.reject(new LogError(LogErrorCode.Closed, `log ${this.dir} closed`));
    for (const seg of this.segments) await seg.file.close();
    await this.dirRef.close();
  }
}

/** Picks entries in [lo, hi) from a frame scan, up to about `maxBytes` of payload (at least one). */
class EntryCollector {
  readonly out: StoredEntry[] = [];
  private total = 0;
  done = false;

  constructor(
    private readonly lo: number,
    private readonly hi: number,
    private readonly maxBytes: number,
  ) {}

  /** Takes the frame if it is wanted; false once the scan can stop. */
  take(h: FrameHeader, buf: Buffer, at: number): boolean {
    if (h.index < this.lo) return true;
    const size = h.length - FRAME_HEADER_SIZE;
    if (h.index >= this.hi || (this.out.length > 0 && this.total + size > this.maxBytes)) {
      this.done = true;
      return false;
    }
    this.out.push(toStoredEntry(h, buf, at));
    this.total += size;
    return true;
  }
}

function toStoredEntry(h: FrameHeader, buf: Buffer, at: number): StoredEntry {
  const from = at + FRAME_HEADER_SIZE;
  const payload = Buffer.from(buf.subarray(from, at + h.length));
  const common = { index: h.index, term: h.term, entryType: h.entryType, offset: BigInt(h.offset), payload };
  if (h.kind === FrameKind.Batch) return { kind: "batch", ...common, batchId: Buffer.from(frameBatchId(buf, at)) };
  return { kind: h.kind === FrameKind.Control ? "control" : "compacted", ...common };
}

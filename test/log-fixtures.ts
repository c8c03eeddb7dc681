/**
 * Helpers for the log tests: record batches as a producer would send them, temporary directories,
 * a syncer the test releases by hand, and a logger whose lines the test can read.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { encodeRecordBatch, type RecordInput } from "../protocol/record-batch.js";
import type { Syncer } from "../broker/log/group-committer.js";
import type { FsyncFailure } from "../broker/log/group-committer.js";

/** A batch of `count` records stamped at `baseOffset`; record i's value names (tag, i). */
export function makeBatch(baseOffset: bigint, count: number, opts: { tag?: string; valueSize?: number; timestamp?: bigint; term?: number } = {}): Buffer {
  const records: RecordInput[] = [];
  for (let i = 0; i < count; i++) {
    const text = `${opts.tag ?? "v"}-${i}`;
    const value = Buffer.alloc(Math.max(opts.valueSize ?? 0, text.length), 0x2e);
    value.write(text);
    records.push({ key: Buffer.from(`k${i}`), value });
  }
  const bytes = encodeRecordBatch(records, { baseOffset, timestamp: opts.timestamp ?? 1_700_000_000_000n, leaderEpoch: opts.term ?? 1 });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One batch of (key, value) records at `baseOffset`; a null value is a tombstone. */
export function keyedBatch(baseOffset: bigint, records: Array<[string, string | null]>, timestamp: number): Buffer {
  const input: RecordInput[] = records.map(([k, v]) => ({ key: Buffer.from(k), value: v === null ? null : Buffer.from(v) }));
  const bytes = encodeRecordBatch(input, { baseOffset, timestamp: BigInt(timestamp), producerId: 7n, producerEpoch: 1, baseSequence: Number(baseOffset) });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function tempDir(t: { after: (fn: () => void) => void }, prefix = "flotilla-log-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A logger that keeps every line it writes, parsed. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

/** A syncer that completes (without syncing: the page cache is enough in one process) only when the test says so, or fails with `failNext`. */
export class ManualSyncer implements Syncer {
  readonly parallelism = 2;
  calls: number[][] = [];
  private waiting: Array<() => void> = [];
  failNext: string | undefined;

  sync(fds: number[]): Promise<FsyncFailure[]> {
    this.calls.push(fds);
    const fail = this.failNext;
    return new Promise((resolve) => {
      this.waiting.push(() => resolve(fail ? fds.map((fd) => ({ fd, code: fail, message: `${fail}: injected` })) : []));
    });
  }

  /** Completes every sync requested so far. */
  release(): void {
    for (const w of this.waiting.splice(0)) w();
  }

  get pending(): number {
    return this.waiting.length;
  }

  async close(): Promise<void> {
    this.release();
  }
}

/** Lets promise callbacks and one setImmediate round run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/** Keeps completing the syncer's fsyncs until `p` settles; returns `p`. */
export async function releaseUntil<T>(syncer: ManualSyncer, p: Promise<T>): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    syncer.release();
    await settle();
  }
  return p;
}

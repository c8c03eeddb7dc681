/**
 * Storage - power cut: what SIGKILL cannot test. A kill keeps the page cache, so every write
 * survives it; a power cut keeps only what an fsync had finished covering. This test runs the log
 * with a syncer that records, for each fsync that completed, the file sizes (and, for the
 * directory, the file names) as they were when it started; at a random moment the power is "cut":
 * from then on nothing counts, and each segment file is cut back to its last synced size (files
 * whose creation no directory sync covered disappear). Reopening must keep every append that had
 * been acknowledged before the cut, and be a prefix of what was appended.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fstatSync, readdirSync, readlinkSync, rmSync, statSync, truncateSync } from "node:fs";
import { basename, join } from "node:path";
import type { FsyncFailure } from "../broker/log/group-committer.js";
import { GroupCommitter, type Syncer } from "../broker/log/group-committer.js";
import { SegmentLog } from "../broker/log/segment-log.js";
import { expectedEntry } from "./log-crash-entries.js";
import { capturingLogger, tempDir } from "./log-fixtures.js";

class PowerCutSyncer implements Syncer {
  readonly parallelism = 2;
  /** Durable state: bytes of each file and names in the directory, as of completed syncs. */
  readonly syncedSize = new Map<string, number>();
  syncedNames = new Set<string>();
  cut = false;

  /** What is in `dir` when the syncer starts (after the previous reopen) counts as on disk. */
  constructor(
    dir: string,
    private readonly random: () => number,
  ) {
    this.syncedNames = new Set(readdirSync(dir));
    for (const name of this.syncedNames) this.syncedSize.set(join(dir, name), statSync(join(dir, name)).size);
  }

  async sync(fds: number[]): Promise<FsyncFailure[]> {
    const captured = fds.map((fd): { path: string; names?: Set<string>; size: number } => {
      const path = readlinkSync(`/proc/self/fd/${fd}`);
      const st = fstatSync(fd);
      return st.isDirectory() ? { path, names: new Set(readdirSync(path)), size: 0 } : { path, size: st.size };
    });
    // Let fsyncs overlap with writes and with each other, as on a real disk.
    await new Promise((r) => setTimeout(r, Math.floor(this.random() * 3)));
    if (!this.cut) {
      for (const c of captured) {
        if (c.names) this.syncedNames = c.names;
        else this.syncedSize.set(c.path, Math.max(this.syncedSize.get(c.path) ?? 0, c.size));
      }
    }
    return [];
  }

  async close(): Promise<void> {}
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test("storage - a power cut loses only what no finished fsync covered", async (t) => {
  const dir = tempDir(t, "flotilla-powercut-");
  const seed = Number(process.env.POWER_CUT_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  let everAcked = 0;
  for (let round = 0; round < 8; round++) {
    const syncer = new PowerCutSyncer(dir, random);
    const log = await SegmentLog.open({ dir, committer: new GroupCommitter(syncer), segmentBytes: 64 * 1024, logger: capturingLogger().logger });
    let index = log.lastIndex;
    let offset = log.nextOffset;
    const appends: Array<Promise<void>> = [];
    const target = 100 + Math.floor(random() * 300);
    for (let i = 0; i < target; i++) {
      const e = expectedEntry(++index, offset);
      if (e.kind === "batch") offset += BigInt(e.records);
      const last = e.entry.index;
      appends.push(
        log.append([e.entry]).then(() => {
          if (!syncer.cut) everAcked = Math.max(everAcked, last);
        }),
      );
      if (random() < 0.2) await new Promise((r) => setImmediate(r));
      if (i === Math.floor(target / 2) + Math.floor(random() * (target / 2))) syncer.cut = true;
    }
    syncer.cut = true;
    await Promise.all(appends);
    await log.close();

    // The power cut: keep only what completed fsyncs covered.
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!name.endsWith(".log")) {
        if (round % 2 === 0) rmSync(path); // index files are never fsynced: sometimes they are gone
        continue;
      }
      if (!syncer.syncedNames.has(basename(path))) rmSync(path);
      else truncateSync(path, syncer.syncedSize.get(path) ?? 0);
    }

    const reopened = await SegmentLog.open({ dir, committer: new GroupCommitter(syncer), logger: capturingLogger().logger });
    try {
      assert.ok(reopened.lastIndex >= everAcked, `seed ${seed} round ${round}: acknowledged ${everAcked}, recovered ${reopened.lastIndex}`);
      let expectOffset = 0n;
      for (let lo = 1; lo <= reopened.lastIndex; ) {
        for (const got of await reopened.readEntries(lo, reopened.lastIndex + 1, 1 << 22)) {
          const want = expectedEntry(lo, expectOffset);
          assert.equal(got.index, lo);
          if (want.entry.kind === "batch") {
            assert.ok(got.payload.equals(want.entry.batch), `seed ${seed}: bytes of entry ${lo}`);
            expectOffset += BigInt(want.kind === "batch" ? want.records : 0);
          } else assert.equal(got.kind, "control");
          lo++;
        }
      }
    } finally {
      await reopened.close();
    }
  }
  assert.ok(everAcked > 0);
});

/**
 * Storage - crash: a child process appends under load and is killed with SIGKILL at a random
 * moment, many times over the same directory. After every kill the log must be a prefix of what was
 * appended (every byte as written, offsets contiguous) and must hold every append the child saw
 * acknowledged as durable. SIGKILL keeps the page cache, so this checks the process side: torn
 * writes, half-rolled segments, index files, recovery of recovery; power loss is beyond a test.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { GroupCommitter, type Syncer } from "../broker/log/group-committer.js";
import { SegmentLog } from "../broker/log/segment-log.js";
import { expectedEntry } from "./log-crash-entries.js";
import { capturingLogger, tempDir } from "./log-fixtures.js";

const child = fileURLToPath(new URL("./log-crash-child.js", import.meta.url));
const instantSyncer: Syncer = { parallelism: 1, sync: async () => [], close: async () => undefined };

/** Seeded, so a failing round can be replayed by its printed seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Runs the child and kills it: `after: "spawn"` counts `delayMs` from the spawn (start-up and
 * recovery), `after: "ack"` from the child's first acknowledged append (under load), so that the
 * moment depends on the seed, not on how busy the machine is. Returns the highest acked index.
 */
function runAndKill(dir: string, after: "spawn" | "ack", delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, dir], { stdio: ["ignore", "pipe", "pipe"] });
    let acked = 0;
    let stderr = "";
    let pending = "";
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      timer ??= setTimeout(() => p.kill("SIGKILL"), delayMs);
    };
    if (after === "spawn") arm();
    // Never wait forever on a child that does not get going.
    const fallback = setTimeout(() => p.kill("SIGKILL"), 15_000);
    p.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const [what, n] = line.split(" ");
        if (what === "ack") {
          acked = Math.max(acked, Number(n));
          arm();
        }
      }
    });
    p.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(fallback);
      if (signal !== "SIGKILL") reject(new Error(`child exited by itself (${code}): ${stderr}`));
      else resolve(acked);
    });
  });
}

async function checkPrefix(dir: string, mustHave: number): Promise<number> {
  const committer = new GroupCommitter(instantSyncer);
  const log = await SegmentLog.open({ dir, committer, logger: capturingLogger().logger });
  try {
    assert.ok(log.lastIndex >= mustHave, `acknowledged up to ${mustHave}, recovered only ${log.lastIndex}`);
    let offset = 0n;
    for (let lo = 1; lo <= log.lastIndex; ) {
      const entries = await log.readEntries(lo, log.lastIndex + 1, 4 << 20);
      for (const got of entries) {
        assert.equal(got.index, lo, "no gaps in Raft indexes");
        const want = expectedEntry(lo, offset);
        if (want.entry.kind === "batch") {
          assert.equal(got.kind, "batch");
          assert.equal(got.offset, offset, `offset of entry ${lo}`);
          assert.ok(got.payload.equals(want.entry.batch), `bytes of entry ${lo}`);
          assert.ok(got.batchId?.equals(want.entry.batchId!), `batch id of entry ${lo}`);
          offset += BigInt(want.kind === "batch" ? want.records : 0);
        } else {
          assert.equal(got.kind, "control");
          assert.ok(got.payload.equals(Buffer.from(want.entry.data)), `control entry ${lo}`);
        }
        assert.equal(got.term, want.entry.term);
        lo++;
      }
    }
    assert.equal(log.nextOffset, offset);
    return log.lastIndex;
  } finally {
    await log.close();
  }
}

test("storage - SIGKILL under load never loses an acknowledged append and leaves a prefix", async (t) => {
  const dir = tempDir(t, "flotilla-crash-");
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  const rounds = 12;
  let everAcked = 0;
  let sawProgress = 0;
  for (let round = 0; round < rounds; round++) {
    // Mostly kills under load; every fourth lands during start-up and recovery.
    const after = round % 4 === 3 ? "spawn" : "ack";
    const delay = Math.floor(random() * 300);
    const acked = await runAndKill(dir, after, delay);
    everAcked = Math.max(everAcked, acked);
    const last = await checkPrefix(dir, everAcked).catch((err: Error) => {
      throw new Error(`round ${round} (CRASH_SEED=${seed}, kill ${delay} ms after ${after}): ${err.message}`);
    });
    if (last > sawProgress) sawProgress = last;
  }
  assert.ok(everAcked > 0, "the child acknowledged appends");
  t.diagnostic(`seed ${seed}: ${rounds} kills, ${sawProgress} entries survived, ${everAcked} acknowledged`);
});

/**
 * SegmentLog against a model: random appends (batches and control entries, several in flight),
 * suffix truncations, retention and reopens, with tiny segments so that every operation crosses
 * segment boundaries. After each step the log must hold exactly what the model holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { capturingLogger, makeBatch, tempDir } from "../../test/log-fixtures.js";
import { GroupCommitter, type Syncer } from "./group-committer.js";
import { SegmentLog, type AppendEntry } from "./segment-log.js";

const instantSyncer: Syncer = { parallelism: 1, sync: async () => [], close: async () => undefined };

interface ModelEntry {
  index: number;
  term: number;
  offset: bigint;
  /** Records in the batch; 0 for a control entry. */
  records: number;
  payload: Buffer;
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function checkAgainst(log: SegmentLog, model: ModelEntry[], firstIndex: number, what: string): Promise<void> {
  const last = model.length > 0 ? model[model.length - 1] : undefined;
  assert.equal(log.lastIndex, last ? last.index : firstIndex - 1, `${what}: lastIndex`);
  const end = last ? last.offset + BigInt(last.records) : log.nextOffset;
  assert.equal(log.nextOffset, end, `${what}: nextOffset`);
  if (model.length === 0) return;
  const stored = await log.readEntries(model[0].index, last!.index + 1, 1 << 24);
  assert.deepEqual(
    stored.map((e) => [e.index, e.term, e.offset, e.payload.length]),
    model.map((e) => [e.index, e.term, e.offset, e.payload.length]),
    `${what}: entries`,
  );
  for (const [i, e] of stored.entries()) assert.ok(e.payload.equals(model[i].payload), `${what}: bytes of ${e.index}`);
  for (const e of model) assert.equal(log.termAt(e.index), e.term, `${what}: term of ${e.index}`);
  // Reading from the first offset of each batch returns exactly the batches from there on.
  const batches = model.filter((e) => e.records > 0);
  for (let i = 0; i < batches.length; i += 3) {
    const bytes = await log.read(batches[i].offset, 1 << 24);
    assert.ok(bytes.equals(Buffer.concat(batches.slice(i).map((b) => b.payload))), `${what}: read from ${batches[i].offset}`);
  }
}

test("segment log - random appends, truncations, retention and reopens match a model", async (t) => {
  const dir = tempDir(t);
  const seed = Number(process.env.LOG_MODEL_SEED ?? Date.now() % 1_000_000);
  const random = prng(seed);
  const committer = new GroupCommitter(instantSyncer);
  const open = () => SegmentLog.open({ dir, committer, segmentBytes: 700, indexIntervalBytes: 200, logger: capturingLogger().logger });
  let log = await open();
  let model: ModelEntry[] = [];
  let firstIndex = 1;
  let term = 1;
  const nextOf = (): { index: number; offset: bigint } => {
    const last = model[model.length - 1];
    return last ? { index: last.index + 1, offset: last.offset + BigInt(last.records) } : { index: log.lastIndex + 1, offset: log.nextOffset };
  };
  for (let step = 0; step < 150; step++) {
    const what = `seed ${seed} step ${step}`;
    const r = random();
    if (r < 0.6) {
      // A few appends in flight at once, one to three entries each.
      const pending: Array<Promise<void>> = [];
      for (let a = 0, n = 1 + Math.floor(random() * 3); a < n; a++) {
        const entries: AppendEntry[] = [];
        for (let k = 0, m = 1 + Math.floor(random() * 3); k < m; k++) {
          const { index, offset } = nextOf();
          if (random() < 0.2) {
            const data = Buffer.from(`ctl-${index}`);
            entries.push({ kind: "control", index, term, entryType: 0, data });
            model.push({ index, term, offset, records: 0, payload: data });
          } else {
            const records = 1 + Math.floor(random() * 4);
            const batch = makeBatch(offset, records, { tag: `s${step}`, valueSize: Math.floor(random() * 150) });
            entries.push({ kind: "batch", index, term, batch });
            model.push({ index, term, offset, records, payload: batch });
          }
        }
        pending.push(log.append(entries));
      }
      await Promise.all(pending);
    } else if (r < 0.75 && model.length > 0) {
      // Raft replaces a suffix; the new leader has a higher term.
      const from = model[Math.floor(random() * model.length)].index;
      await log.truncateFromIndex(from);
      model = model.filter((e) => e.index < from);
      if (model.length === 0) firstIndex = from;
      term++;
    } else if (r < 0.85) {
      const before = log.segmentCount;
      await log.enforceRetention({ now: Date.now(), retentionBytes: 1500 });
      if (log.segmentCount < before) {
        model = model.filter((e) => e.index >= log.firstIndex);
        firstIndex = log.firstIndex;
      }
    } else {
      await log.close();
      log = await open();
    }
    await checkAgainst(log, model, firstIndex, what);
  }
  await log.close();
});

// The log: the durable part (Storage) followed by the unstable tail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { emptyConfState, type Entry } from "../../protocol/raft.js";
import { Unstable } from "./log-unstable.js";
import { MemoryStorage } from "./memory-storage.js";
import { RaftLog, entrySize } from "./raft-log.js";
import { entriesWithTerms } from "./test-network.js";

const it = (index: number, term: number): Entry => entriesWithTerms([term], index)[0];
const ids = (es: Entry[]) => es.map((e) => [e.index, e.term]);

function logWith(stored: number[], unstable: number[] = [], applyBeforePersist = false): RaftLog {
  const s = new MemoryStorage({ ...emptyConfState(), voters: [1] });
  s.append(entriesWithTerms(stored));
  const log = new RaftLog(s, applyBeforePersist);
  if (unstable.length > 0) log.append(entriesWithTerms(unstable, stored.length + 1));
  return log;
}

test("raft - unstable truncateAndAppend: appending right after the tail extends it", () => {
  const u = new Unstable(5);
  u.truncateAndAppend([it(5, 1), it(6, 1)]);
  u.truncateAndAppend([it(7, 1), it(8, 2)]);
  assert.deepEqual(ids(u.entries), [[5, 1], [6, 1], [7, 1], [8, 2]]);
  assert.equal(u.offset, 5);
});

test("raft - unstable truncateAndAppend: entries from before the offset replace the whole tail", () => {
  const u = new Unstable(5);
  u.truncateAndAppend([it(5, 1), it(6, 1)]);
  u.acceptInProgress();
  u.truncateAndAppend([it(4, 2), it(5, 2)]);
  assert.deepEqual(ids(u.entries), [[4, 2], [5, 2]]);
  assert.equal(u.offset, 4);
  assert.equal(u.offsetInProgress, 4, "nothing of the new tail has been handed out");
  assert.deepEqual(ids(u.nextEntries()), [[4, 2], [5, 2]]);
});

test("raft - unstable truncateAndAppend: entries in the middle truncate the tail there", () => {
  const u = new Unstable(5);
  u.truncateAndAppend([it(5, 1), it(6, 1), it(7, 1)]);
  u.acceptInProgress(); // 5..7 are being written
  u.truncateAndAppend([it(6, 2), it(7, 2), it(8, 2)]);
  assert.deepEqual(ids(u.entries), [[5, 1], [6, 2], [7, 2], [8, 2]]);
  assert.equal(u.offsetInProgress, 6, "entry 5 is still being written; 6.. must be handed out again");
  assert.deepEqual(ids(u.nextEntries()), [[6, 2], [7, 2], [8, 2]]);
});

test("raft - unstable stableTo: a write's completion marks the entries durable", () => {
  const u = new Unstable(5);
  u.truncateAndAppend([it(5, 1), it(6, 1), it(7, 1)]);
  u.acceptInProgress();
  u.stableTo(6, 1);
  assert.equal(u.offset, 7);
  assert.deepEqual(ids(u.entries), [[7, 1]]);
  // an index already stable, or one past the end, changes nothing
  u.stableTo(5, 1);
  u.stableTo(9, 1);
  assert.equal(u.offset, 7);
});

test("raft - unstable stableTo (ABA): an entry replaced before its write completed is not marked stable", () => {
  const u = new Unstable(5);
  u.truncateAndAppend([it(5, 1), it(6, 1)]);
  u.acceptInProgress(); // write #1: (5,1) (6,1)
  u.truncateAndAppend([it(6, 2)]); // a new leader replaces 6 before write #1 completes
  u.stableTo(6, 1); // write #1 completes: it wrote (6,1), not (6,2)
  assert.deepEqual(ids(u.entries), [[5, 1], [6, 2]], "(6,2) is not durable yet");
  assert.equal(u.offset, 5);
  assert.deepEqual(ids(u.nextEntries()), [[6, 2]], "and it is still to be written");
  u.acceptInProgress();
  u.stableTo(6, 2); // write #2 completes
  assert.equal(u.offset, 7);
  assert.equal(u.entries.length, 0);
});

test("raft - raft log findConflictByTerm: the last index at or below with a term ≤ the given term", () => {
  // index:       1  2  3  4  5  6  7
  const log = logWith([1, 1, 2, 2, 2, 5, 5]);
  assert.deepEqual(log.findConflictByTerm(7, 5), [7, 5]);
  assert.deepEqual(log.findConflictByTerm(7, 6), [7, 5]);
  assert.deepEqual(log.findConflictByTerm(7, 4), [5, 2], "skips the whole term-5 run");
  assert.deepEqual(log.findConflictByTerm(7, 2), [5, 2]);
  assert.deepEqual(log.findConflictByTerm(7, 1), [2, 1]);
  assert.deepEqual(log.findConflictByTerm(4, 1), [2, 1]);
  assert.deepEqual(log.findConflictByTerm(7, 0), [0, 0]);
});

test("raft - raft log findConflictByTerm stops at the compacted prefix", () => {
  const s = new MemoryStorage({ ...emptyConfState(), voters: [1] });
  s.append(entriesWithTerms([1, 1, 2, 3, 3, 3]));
  s.compact(3);
  const log = new RaftLog(s);
  assert.deepEqual(log.findConflictByTerm(6, 2), [3, 2], "the snapshot's index still has a term");
  // below that the term is unknown: the answer is the index with term 0
  assert.deepEqual(log.findConflictByTerm(6, 1), [2, 0]);
});

test("raft - raft log slice spans storage and unstable, cut by the size limit but never empty", () => {
  const log = logWith([1, 1, 1, 1], [2, 2, 2]); // 1..4 stored, 5..7 unstable
  assert.deepEqual(ids(log.slice(2, 7, 0)), [[2, 1], [3, 1], [4, 1], [5, 2], [6, 2]]);
  assert.deepEqual(ids(log.slice(5, 8, 0)), [[5, 2], [6, 2], [7, 2]]);
  assert.deepEqual(ids(log.slice(3, 5, 0)), [[3, 1], [4, 1]]);
  const one = entrySize(it(1, 1)); // every test entry here has the same size
  assert.deepEqual(ids(log.slice(1, 8, one * 3)), [[1, 1], [2, 1], [3, 1]], "stops inside storage");
  assert.deepEqual(ids(log.slice(3, 8, one * 3)), [[3, 1], [4, 1], [5, 2]], "crosses into unstable");
  assert.deepEqual(ids(log.slice(3, 8, one * 3 + one - 1)), [[3, 1], [4, 1], [5, 2]]);
  assert.deepEqual(ids(log.slice(5, 8, one * 2)), [[5, 2], [6, 2]], "unstable only");
  assert.deepEqual(ids(log.slice(2, 8, 1)), [[2, 1]], "always at least one entry");
  assert.deepEqual(ids(log.slice(6, 8, 1)), [[6, 2]]);
  assert.deepEqual(log.slice(4, 4, 0), []);
  assert.throws(() => log.slice(0, 3, 0), RangeError);
  assert.throws(() => log.slice(3, 9, 0), RangeError);
});

test("raft - raft log maybeAppend: a matching prefix appends nothing new and commits up to the last new entry", () => {
  const log = logWith([1, 2, 3]);
  assert.equal(log.maybeAppend(1, 1, 3, [it(2, 2), it(3, 3)]), 3);
  assert.deepEqual(ids(log.unstable.entries), [], "entries already present are not rewritten");
  assert.equal(log.committed, 3);
  // commit never goes past the entries the leader vouched for in this message
  const log2 = logWith([1, 2, 3]);
  assert.equal(log2.maybeAppend(1, 1, 9, [it(2, 2)]), 2);
  assert.equal(log2.committed, 2);
});

test("raft - raft log maybeAppend: a mismatch at (index, logTerm) is refused", () => {
  const log = logWith([1, 2, 3]);
  assert.equal(log.maybeAppend(3, 2, 3, [it(4, 3)]), undefined, "wrong term at 3");
  assert.equal(log.maybeAppend(5, 3, 3, [it(6, 3)]), undefined, "gap: no entry 5");
  assert.equal(log.lastIndex(), 3);
  assert.equal(log.committed, 0);
});

test("raft - raft log maybeAppend: a conflicting entry truncates the log from there", () => {
  const log = logWith([1, 2, 3, 3]);
  assert.equal(log.maybeAppend(2, 2, 0, [it(3, 4), it(4, 4), it(5, 4)]), 5);
  assert.deepEqual(ids(log.slice(1, 6, 0)), [[1, 1], [2, 2], [3, 4], [4, 4], [5, 4]]);
  // entries past the leader's that do not conflict stay (the message may be an old, short one)
  const log2 = logWith([1, 2, 3, 3]);
  assert.equal(log2.maybeAppend(1, 1, 0, [it(2, 2)]), 2);
  assert.equal(log2.lastIndex(), 4);
});

test("raft - raft log maybeAppend: a conflict with a committed entry is an error, never a rewrite", () => {
  const log = logWith([1, 2, 3]);
  log.commitTo(3);
  assert.throws(() => log.maybeAppend(1, 1, 3, [it(2, 2), it(3, 9)]));
  assert.equal(log.term(3), 3);
});

test("raft - raft log maybeCommit commits only an entry of the given term", () => {
  const log = logWith([1, 1, 2]);
  assert.equal(log.maybeCommit(2, 2), false, "entry 2 is of term 1");
  assert.equal(log.committed, 0);
  assert.equal(log.maybeCommit(3, 2), true);
  assert.equal(log.committed, 3);
  assert.equal(log.maybeCommit(2, 1), false, "never backwards");
});

test("raft - raft log isUpToDate compares last terms first, then lengths (§5.4.1)", () => {
  const log = logWith([1, 2, 2]); // last (3, 2)
  assert.equal(log.isUpToDate(1, 3), true, "higher last term wins even when shorter");
  assert.equal(log.isUpToDate(3, 2), true, "same term, same length");
  assert.equal(log.isUpToDate(4, 2), true);
  assert.equal(log.isUpToDate(2, 2), false, "same term, shorter");
  assert.equal(log.isUpToDate(9, 1), false, "lower last term loses even when longer");
});

test("raft - raft log hands out to apply only entries that are both committed and durable", () => {
  const log = logWith([1, 1], [1, 1]); // 1..2 durable, 3..4 unstable
  log.commitTo(4);
  assert.deepEqual(ids(log.nextCommittedEnts(0)), [[1, 1], [2, 1]]);
  const written = log.unstable.nextEntries();
  log.unstable.acceptInProgress();
  (log.storage as MemoryStorage).append(written);
  log.unstable.stableTo(4, 1);
  assert.deepEqual(ids(log.nextCommittedEnts(0)), [[1, 1], [2, 1], [3, 1], [4, 1]]);
});

test("raft - raft log with applyBeforePersist hands out committed entries that are not durable yet, never uncommitted ones", () => {
  const log = logWith([1, 1], [1, 1], true); // 1..2 durable, 3..4 unstable
  log.commitTo(3);
  assert.deepEqual(ids(log.nextCommittedEnts(0)), [[1, 1], [2, 1], [3, 1]]);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { EntryType, type Entry } from "../../protocol/raft.js";
import { Checker, Violation, type Property } from "./checker.js";

/** An entry whose payload is one byte, so different `data` means a different entry. */
function ent(index: number, term: number, data = index): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array([data]) };
}

function fresh(ids: number[]): Checker {
  const c = new Checker();
  for (const id of ids) c.nodeStarted(id, 0, 0, [], 0);
  return c;
}

function violates(property: Property, f: () => void): void {
  assert.throws(f, (e: unknown) => e instanceof Violation && e.property === property);
}

test("checker - election safety: a second leader in the same term", () => {
  const c = fresh([1, 2, 3]);
  c.leaderElected(1, 1);
  c.leaderElected(1, 1); // the same leader reported again is fine
  c.leaderElected(2, 2);
  violates("election-safety", () => c.leaderElected(3, 2));
});

test("checker - log matching: same (index, term) with different content or history", () => {
  const c = fresh([1, 2, 3]);
  c.appended(1, [ent(1, 1), ent(2, 1)]);
  c.appended(2, [ent(1, 1), ent(2, 1)]);
  violates("log-matching", () => c.appended(3, [ent(1, 1, 99)]));

  const d = fresh([1, 2]);
  d.appended(1, [ent(1, 1), ent(2, 2)]);
  // Same entry at (2, term 2), but node 2 holds it after a term-3 entry: the prefixes differ.
  d.appended(2, [ent(1, 3)]);
  violates("log-matching", () => d.appended(2, [ent(2, 2)]));
});

test("checker - log matching: an append must connect to the log", () => {
  const c = fresh([1]);
  c.appended(1, [ent(1, 1)]);
  violates("log-matching", () => c.appended(1, [ent(3, 1)]));
});

test("checker - leader completeness: a new leader must hold every committed entry", () => {
  const c = fresh([1, 2, 3]);
  c.appended(1, [ent(1, 1), ent(2, 1)]);
  c.appended(2, [ent(1, 1), ent(2, 1)]);
  c.commitAdvanced(1, 2);
  c.appended(3, [ent(1, 1)]);
  violates("leader-completeness", () => c.leaderElected(3, 2)); // too short

  const d = fresh([1, 2, 3]);
  d.appended(1, [ent(1, 1), ent(2, 1)]);
  d.commitAdvanced(1, 2);
  d.appended(3, [ent(1, 1), ent(2, 2, 7)]);
  violates("leader-completeness", () => d.leaderElected(3, 3)); // long enough, wrong entry
  d.appended(2, [ent(1, 1), ent(2, 1)]);
  d.leaderElected(2, 4);
});

test("checker - state machine safety: different entries applied at one index", () => {
  const c = fresh([1, 2]);
  c.applied(1, ent(1, 1), 11);
  c.applied(2, ent(1, 1), 11);
  c.applied(1, ent(2, 1), 12);
  violates("state-machine-safety", () => c.applied(2, ent(2, 2, 5), 13));
});

test("checker - state machine safety: entries are applied in order, without gaps", () => {
  const c = fresh([1]);
  c.applied(1, ent(1, 1), 1);
  violates("state-machine-safety", () => c.applied(1, ent(3, 1), 3));
});

test("checker - state machine safety: a committed entry a node held is never overwritten or cut off", () => {
  const c = fresh([1, 2]);
  c.appended(1, [ent(1, 1), ent(2, 1), ent(3, 1)]);
  c.commitAdvanced(1, 3);
  c.appended(2, [ent(1, 1), ent(2, 1), ent(3, 1)]);
  c.appended(2, [ent(3, 1)]); // rewriting the same entry is harmless
  violates("state-machine-safety", () => c.appended(2, [ent(2, 2, 9)]));

  // A stale follower that never held the committed entry may be overwritten freely.
  const d = fresh([1, 2]);
  d.appended(1, [ent(1, 1), ent(2, 2)]);
  d.commitAdvanced(1, 2);
  d.appended(2, [ent(1, 1), ent(2, 1, 8)]);
  d.appended(2, [ent(2, 2)]);
});

test("checker - state machine safety: a snapshot must carry the state applied at its index", () => {
  const c = fresh([1, 2]);
  c.applied(1, ent(1, 1), 100);
  c.applied(1, ent(2, 1), 200);
  c.snapshotInstalled(2, 2, 1, 200);
  violates("state-machine-safety", () => c.snapshotInstalled(2, 2, 1, 999));
  violates("state-machine-safety", () => c.snapshotInstalled(2, 2, 5, 200));
});

test("checker - vote safety: no vote or pre-vote for a candidate whose log is behind", () => {
  const c = fresh([1, 2]);
  c.appended(1, [ent(1, 1), ent(2, 2)]);
  c.voteGranted(1, 2, "vote", { term: 3, logTerm: 2, index: 2 }); // as up to date
  c.voteGranted(1, 2, "vote", { term: 3, logTerm: 3, index: 1 }); // higher last term wins
  violates("vote-safety", () => c.voteGranted(1, 2, "pre-vote", { term: 3, logTerm: 2, index: 1 }));
  violates("vote-safety", () => c.voteGranted(1, 2, "vote", { term: 3, logTerm: 1, index: 9 }));
});

test("checker - linearizable reads: a read must see everything applied before it started", () => {
  const c = fresh([1, 2]);
  c.applied(1, ent(1, 1), 1);
  c.applied(1, ent(2, 1), 2);
  c.readStarted(7);
  c.applied(1, ent(3, 1), 3);
  c.readStarted(8);
  c.readServed(7, 2, 2); // index 3 came after read 7 began: 2 is enough
  violates("linearizable-read", () => c.readServed(8, 2, 2));
  c.readServed(8, 2, 2); // a second answer to a read already judged is ignored
});

// The leader's view of one follower: the in-flight window and the probe/replicate/snapshot states.
import { test } from "node:test";
import assert from "node:assert/strict";
import { emptyConfState, type Snapshot } from "../../protocol/raft.js";
import { Inflights } from "./inflights.js";
import { Progress, ProgressState } from "./progress.js";

function snapshotAt(index: number): Snapshot {
  return { meta: { index, term: 1, confState: emptyConfState() }, data: new Uint8Array(0) };
}

test("raft - inflights: full at maxCount messages; freeLE frees every message up to an index", () => {
  const inf = new Inflights(3, 0);
  inf.add(5, 10);
  inf.add(7, 10);
  assert.equal(inf.full(), false);
  inf.add(9, 10);
  assert.equal(inf.count(), 3);
  assert.equal(inf.full(), true);
  inf.freeLE(4); // nothing at or below 4
  assert.equal(inf.count(), 3);
  inf.freeLE(6); // frees the message ending at 5
  assert.equal(inf.count(), 2);
  assert.equal(inf.full(), false);
  inf.freeLE(8); // between two messages: frees the one ending at 7 only
  assert.equal(inf.count(), 1);
  inf.freeLE(100);
  assert.equal(inf.count(), 0);
  inf.freeLE(100); // freeing an empty window is harmless
  assert.equal(inf.count(), 0);
});

test("raft - inflights: full at maxBytes (a soft limit: the message that crosses it is allowed)", () => {
  const inf = new Inflights(100, 100);
  inf.add(1, 60);
  assert.equal(inf.full(), false);
  inf.add(2, 60); // 120 bytes: over the limit, but it was let through
  assert.equal(inf.full(), true);
  inf.freeLE(1);
  assert.equal(inf.full(), false); // 60 bytes left
  inf.add(3, 40);
  assert.equal(inf.full(), true); // exactly 100
  inf.freeLE(3);
  assert.equal(inf.count(), 0);
  assert.equal(inf.full(), false);
});

test("raft - inflights: matches a model over long random runs (window compaction)", () => {
  let s = 7;
  const r = (n: number) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % n);
  const inf = new Inflights(50, 500);
  const model: Array<[number, number]> = [];
  let next = 1;
  for (let step = 0; step < 20000; step++) {
    if (!inf.full() && r(3) > 0) {
      next += 1 + r(3);
      const b = 1 + r(20);
      inf.add(next, b);
      model.push([next, b]);
    } else {
      const upTo = next - r(10);
      inf.freeLE(upTo);
      while (model.length > 0 && model[0][0] <= upTo) model.shift();
    }
    const bytes = model.reduce((a, [, b]) => a + b, 0);
    assert.equal(inf.count(), model.length);
    assert.equal(inf.full(), model.length >= 50 || bytes >= 500);
  }
});

test("raft - progress: a new follower is probed; probing sends one App and waits", () => {
  const pr = new Progress(6, 10, 0, false);
  assert.equal(pr.state, ProgressState.Probe);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(3, 30);
  assert.equal(pr.isPaused(), true, "one probe at a time");
  assert.equal(pr.next, 6, "probe does not move next optimistically");
  // an acknowledgement ends the wait
  assert.equal(pr.maybeUpdate(8), true);
  assert.equal(pr.match, 8);
  assert.equal(pr.next, 9);
  assert.equal(pr.isPaused(), false);
});

test("raft - progress: an empty probe does not pause", () => {
  const pr = new Progress(6, 10, 0, false);
  pr.sentEntries(0, 0);
  assert.equal(pr.isPaused(), false);
});

test("raft - progress: replicate streams optimistically and pauses when the window is full", () => {
  const pr = new Progress(1, 2, 0, false);
  pr.maybeUpdate(5);
  pr.becomeReplicate();
  assert.equal(pr.next, 6);
  pr.sentEntries(2, 20); // 6..7
  assert.equal(pr.next, 8);
  assert.equal(pr.isPaused(), false);
  pr.sentEntries(1, 10); // 8
  assert.equal(pr.next, 9);
  assert.equal(pr.isPaused(), true, "2 messages in flight = maxInflightMsgs");
  pr.maybeUpdate(7);
  pr.inflights.freeLE(7);
  assert.equal(pr.isPaused(), false);
});

test("raft - progress: maybeUpdate ignores stale acknowledgements but never moves next backwards", () => {
  const pr = new Progress(1, 10, 0, false);
  assert.equal(pr.maybeUpdate(5), true);
  pr.becomeReplicate();
  pr.sentEntries(5, 50); // next = 11
  assert.equal(pr.maybeUpdate(3), false, "an older ack says nothing new");
  assert.equal(pr.match, 5);
  assert.equal(pr.next, 11);
  assert.equal(pr.maybeUpdate(5), false);
  assert.equal(pr.maybeUpdate(12), true);
  assert.equal(pr.next, 13, "an ack beyond next moves next past it");
});

test("raft - progress: in replicate, a rejection above match sends next back to match+1; one at or below match is stale", () => {
  const pr = new Progress(1, 10, 0, false);
  pr.maybeUpdate(5);
  pr.becomeReplicate();
  pr.sentEntries(5, 50); // next = 11
  assert.equal(pr.maybeDecrTo(4, 4), false, "stale: index 4 is already known to match");
  assert.equal(pr.maybeDecrTo(5, 5), false);
  assert.equal(pr.next, 11);
  assert.equal(pr.maybeDecrTo(8, 6), true);
  assert.equal(pr.next, 6);
});

test("raft - progress: in probe, only the rejection of the outstanding probe counts, and the hint is used", () => {
  const pr = new Progress(11, 10, 0, false); // probing at 10 (next = 11)
  pr.sentEntries(1, 10);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.maybeDecrTo(7, 3), false, "a rejection of an older probe is stale");
  assert.equal(pr.next, 11);
  assert.equal(pr.maybeDecrTo(10, 4), true);
  assert.equal(pr.next, 5, "next = hint + 1");
  assert.equal(pr.isPaused(), false, "the rejection answers the probe");
  // a hint beyond the rejected index cannot move next forward
  const pr2 = new Progress(11, 10, 0, false);
  assert.equal(pr2.maybeDecrTo(10, 50), true);
  assert.equal(pr2.next, 10);
  // and next never falls to or below match
  const pr3 = new Progress(11, 10, 0, false);
  pr3.maybeUpdate(3);
  pr3.becomeProbe();
  pr3.next = 11;
  assert.equal(pr3.maybeDecrTo(10, 0), true);
  assert.equal(pr3.next, 4);
});

test("raft - progress: snapshot state pauses everything; leaving it probes from after the snapshot", () => {
  const pr = new Progress(3, 10, 0, false);
  pr.maybeUpdate(2);
  pr.becomeSnapshot(snapshotAt(20));
  assert.equal(pr.state, ProgressState.Snapshot);
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.next, 21);
  pr.becomeProbe();
  assert.equal(pr.state, ProgressState.Probe);
  assert.equal(pr.next, 21, "the follower holds at least the snapshot");
  assert.equal(pr.isPaused(), false);
  // leaving a snapshot state when match is already past it
  const pr2 = new Progress(3, 10, 0, false);
  pr2.becomeSnapshot(snapshotAt(20));
  pr2.maybeUpdate(25);
  pr2.becomeProbe();
  assert.equal(pr2.next, 26);
});

test("raft - progress: becoming replicate or probe empties the window and sets next from match", () => {
  const pr = new Progress(1, 3, 0, false);
  pr.maybeUpdate(4);
  pr.becomeReplicate();
  pr.sentEntries(1, 1);
  pr.sentEntries(1, 1);
  pr.sentEntries(1, 1);
  assert.equal(pr.isPaused(), true);
  pr.becomeProbe();
  assert.equal(pr.inflights.count(), 0);
  assert.equal(pr.next, 5);
  assert.equal(pr.isPaused(), false);
  pr.becomeReplicate();
  assert.equal(pr.next, 5);
  assert.equal(pr.inflights.count(), 0);
});

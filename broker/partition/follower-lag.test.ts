import { test } from "node:test";
import assert from "node:assert/strict";
import type { ProgressStatus, Status } from "../raft/index.js";
import { FollowerLag } from "./follower-lag.js";

function sample(lag: FollowerLag, t: number, lastIndex: number, followers: Record<number, { match: number; active?: boolean }>): void {
  for (const [id, f] of Object.entries(followers)) if (f.active !== false) lag.heard(Number(id));
  lag.sample(t, status(lastIndex, followers));
}

function status(lastIndex: number, followers: Record<number, { match: number; active?: boolean }>): Status {
  const progress = new Map<number, ProgressStatus>([[1, { match: lastIndex, next: lastIndex + 1, state: "replicate", isLearner: false, recentActive: true }]]);
  for (const [id, f] of Object.entries(followers)) progress.set(Number(id), { match: f.match, next: f.match + 1, state: "replicate", isLearner: false, recentActive: f.active ?? true });
  return { id: 1, hardState: { term: 1, vote: 1, commit: 0 }, softState: { leader: 1, role: "leader" }, applied: 0, lastIndex, confState: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false }, progress, leadTransferee: 0 };
}

test("follower lag - a follower that keeps up with the previous sample stays in sync; one that stops falls out after maxLagMs", () => {
  const lag = new FollowerLag(1, 1000);
  lag.reset(0, status(10, { 2: { match: 0 }, 3: { match: 0 } }));
  assert.deepEqual(lag.inSync(0), [1], "a new leader counts no follower in sync before it has heard it match");
  sample(lag, 100, 10, { 2: { match: 10 }, 3: { match: 10 } });
  assert.deepEqual(lag.inSync(100), [1, 2, 3]);
  // Load: the leader moves on; 2 trails by less than a sample, 3 stopped at 10.
  for (let t = 500, last = 20; t <= 3000; t += 500, last += 10) sample(lag, t, last, { 2: { match: last - 5 }, 3: { match: 10 } });
  assert.deepEqual(lag.inSync(3000), [1, 2]);
  assert.deepEqual(lag.report(3000).find((f) => f.id === 3), { id: 3, lagEntries: 60, inSync: false });
});

test("follower lag - a new leader leaves out a follower that answers but has not caught up, and one it has not heard from", () => {
  const lag = new FollowerLag(1, 1000);
  lag.reset(0, status(10, { 2: { match: 0 }, 3: { match: 0 } }));
  sample(lag, 100, 10, { 2: { match: 4 }, 3: { match: 10, active: false } });
  assert.deepEqual(lag.inSync(100), [1]);
  sample(lag, 200, 10, { 2: { match: 10 }, 3: { match: 10, active: false } });
  assert.deepEqual(lag.inSync(200), [1, 2]);
});

test("follower lag - an idle follower that the leader no longer hears from falls out, though its log matches", () => {
  const lag = new FollowerLag(1, 1000);
  lag.reset(0, status(10, { 2: { match: 0 }, 3: { match: 0 } }));
  for (let t = 0; t <= 3000; t += 500) sample(lag, t, 10, { 2: { match: 10 }, 3: { match: 10, active: false } });
  assert.deepEqual(lag.inSync(3000), [1, 2]);
});

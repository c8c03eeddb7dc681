import { test } from "node:test";
import assert from "node:assert/strict";
import type { BugName, SIMULATED_BUGS } from "../raft/types.js";
import type { Property } from "./checker.js";
import { defaultOptions } from "./profile.js";
import { runSeed, type SeedResult } from "./run.js";

/** The seed budget within which every injected bug must be caught. */
const BUDGET = 2000;

function firstViolation(bug: BugName): SeedResult | undefined {
  const o = { ...defaultOptions(), bug };
  for (let seed = 1; seed <= BUDGET; seed++) {
    const r = runSeed(seed, o);
    if (r.violation !== undefined) return r;
  }
  return undefined;
}

test("sim - 500 seeds with every fault on: no violation", () => {
  const o = defaultOptions();
  let committed = 0;
  for (let seed = 1; seed <= 500; seed++) {
    const r = runSeed(seed, o);
    assert.equal(r.violation, undefined, `seed ${seed}: ${r.violation?.property}: ${r.violation?.detail}`);
    committed += r.committed;
  }
  assert.ok(committed > 0);
});

test("sim - a seed replays exactly", () => {
  const clean = defaultOptions();
  assert.deepEqual(runSeed(17, clean), runSeed(17, clean));
  const buggy = { ...defaultOptions(), bug: "no-prevote-check" as const };
  const a = runSeed(3, buggy);
  assert.ok(a.violation !== undefined);
  assert.deepEqual(runSeed(3, buggy), a);
});

/** Every bug the simulator offers must be here (the type checks it), with what it breaks. */
const EXPECTED: Record<(typeof SIMULATED_BUGS)[number], readonly Property[]> = {
  // Figure 8: the entry committed by counting replicas is missing from a later leader, or replaced.
  "commit-old-term": ["leader-completeness", "state-machine-safety"],
  // A forgotten vote is given twice: two leaders in one term, and what follows from it.
  "no-persist-vote": ["election-safety", "leader-completeness", "state-machine-safety"],
  "stale-read": ["linearizable-read"],
  "no-prevote-check": ["vote-safety"],
  // Disjoint old and new majorities each elect a leader and commit on their own.
  "single-step-joint": ["election-safety", "leader-completeness", "state-machine-safety"],
  // A new leader answers from a commit index that may be behind what its predecessor acknowledged.
  "read-before-noop": ["linearizable-read"],
};

for (const [bug, properties] of Object.entries(EXPECTED)) {
  test(`sim - --bug ${bug} is caught within ${BUDGET} seeds`, () => {
    const r = firstViolation(bug as BugName);
    assert.ok(r !== undefined, `${bug} not caught`);
    assert.ok(
      properties.includes(r.violation!.property),
      `seed ${r.seed}: expected one of ${properties.join(", ")}, got ${r.violation!.property}: ${r.violation!.detail}`,
    );
  });
}

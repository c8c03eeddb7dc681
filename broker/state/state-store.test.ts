import { test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "../../test/log-fixtures.js";
import { StateStore, type SnapshotRecord } from "./state-store.js";

const conf = { voters: [1, 2, 3], votersOutgoing: [], learners: [4], learnersNext: [], autoLeave: false };

test("state store - hard state, snapshot metadata and records survive a reopen", async (t) => {
  const path = tempDir(t, "flotilla-state-");
  const store = StateStore.open({ path });
  const meta: SnapshotRecord = { index: 40, term: 3, confState: conf, nextOffset: 2n ** 60n, logStartOffset: 12n, data: Buffer.from([1, 2, 3]) };
  await store.write({
    hardStates: [
      ["orders-0", { term: 3, vote: 2, commit: 41 }],
      ["orders-1", { term: 1, vote: 0, commit: 0 }],
    ],
    snapshots: [["orders-0", meta]],
    records: [
      ["offsets", "group-a/orders-0", 17n],
      ["offsets", "group-b/orders-0", 5n],
      ["other", "x", "y"],
    ],
  });
  assert.deepEqual(store.hardState("orders-0"), { term: 3, vote: 2, commit: 41 });
  await store.close();

  const again = StateStore.open({ path });
  assert.deepEqual(again.hardState("orders-0"), { term: 3, vote: 2, commit: 41 });
  assert.deepEqual(again.hardState("orders-1"), { term: 1, vote: 0, commit: 0 });
  assert.equal(again.hardState("nope"), undefined);
  assert.deepEqual(again.snapshot("orders-0"), meta);
  assert.deepEqual([...again.entries("offsets")], [
    ["group-a/orders-0", 17n],
    ["group-b/orders-0", 5n],
  ]);
  await again.put("offsets", "group-a/orders-0", undefined);
  assert.equal(again.get("offsets", "group-a/orders-0"), undefined);
  await again.removeGroup("orders-0");
  assert.equal(again.hardState("orders-0"), undefined);
  assert.equal(again.snapshot("orders-0"), undefined);
  await again.close();
});

test("state store - writes of one turn from many groups land together", async (t) => {
  const store = StateStore.open({ path: tempDir(t, "flotilla-state-") });
  await Promise.all(Array.from({ length: 200 }, (_, g) => store.putHardState(`g${g}`, { term: g, vote: 1, commit: g * 2 })));
  for (let g = 0; g < 200; g++) assert.deepEqual(store.hardState(`g${g}`), { term: g, vote: 1, commit: g * 2 });
  await store.close();
});

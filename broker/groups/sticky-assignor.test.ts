import { test } from "node:test";
import assert from "node:assert/strict";
import { partitionKey, type PartitionKey } from "./partition-key.js";
import { stickyAssignment } from "./sticky-assignor.js";

const six = (t: string): number | undefined => (t === "orders" ? 6 : t === "audit" ? 2 : undefined);
const sizes = (a: Map<string, Set<PartitionKey>>): number[] => [...a.values()].map((s) => s.size);
const members = (...ids: string[]) => ids.map((memberId) => ({ memberId, topics: ["orders"] }));

function moved(before: Map<string, Set<PartitionKey>>, after: Map<string, Set<PartitionKey>>): number {
  let n = 0;
  for (const [id, set] of after) for (const k of set) if (!before.get(id)?.has(k)) n++;
  return n;
}

test("sticky assignor - every partition of a subscribed topic goes to exactly one member, loads within one", () => {
  const a = stickyAssignment(members("a", "b", "c", "d"), six, new Map());
  const all = [...a.values()].flatMap((s) => [...s]).sort();
  assert.deepEqual(all, Array.from({ length: 6 }, (_, p) => partitionKey("orders", p)).sort());
  assert.deepEqual(sizes(a).sort(), [1, 1, 2, 2]);
});

test("sticky assignor - a member joining takes only its share; the others keep the rest", () => {
  const two = stickyAssignment(members("a", "b"), six, new Map());
  const three = stickyAssignment(members("a", "b", "c"), six, two);
  assert.deepEqual(sizes(three), [2, 2, 2]);
  assert.equal(moved(two, three), 2, "exactly c's two partitions move");
  for (const id of ["a", "b"]) for (const k of three.get(id)!) assert.ok(two.get(id)!.has(k), `${id} kept ${k}`);
});

test("sticky assignor - a member leaving has only its own partitions spread over the others", () => {
  const three = stickyAssignment(members("a", "b", "c"), six, new Map());
  const two = stickyAssignment(members("a", "c"), six, three);
  assert.deepEqual(sizes(two), [3, 3]);
  assert.equal(moved(three, two), 2);
});

test("sticky assignor - members get only topics they subscribe to; unknown topics assign nothing", () => {
  const a = stickyAssignment(
    [
      { memberId: "a", topics: ["orders", "audit"] },
      { memberId: "b", topics: ["audit", "nope"] },
    ],
    six,
    new Map(),
  );
  assert.deepEqual([...a.get("b")!].sort(), [partitionKey("audit", 0), partitionKey("audit", 1)]);
  assert.equal(a.get("a")!.size, 6);
});

test("sticky assignor - a partition claimed twice, or of a shrunk topic, is cleaned up", () => {
  const current = new Map([
    ["a", new Set([partitionKey("orders", 0), partitionKey("orders", 9)])],
    ["b", new Set([partitionKey("orders", 0)])],
  ]);
  const a = stickyAssignment(members("a", "b"), six, current);
  assert.ok(a.get("a")!.has(partitionKey("orders", 0)));
  assert.ok(!a.get("b")!.has(partitionKey("orders", 0)));
  assert.ok(![...a.values()].some((s) => s.has(partitionKey("orders", 9))));
  assert.deepEqual(sizes(a), [3, 3]);
});

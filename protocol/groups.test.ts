import { test } from "node:test";
import assert from "node:assert/strict";
import { CONSUMER_OFFSETS_PARTITIONS, groupPartition } from "./groups.js";

test("groups - a group id maps to one stable offsets partition, and ids spread over all of them", () => {
  // Fixed values: clients and brokers of every version must agree on them.
  assert.deepEqual(["billing", "", "orders-app", "g€"].map(groupPartition), [0, 1, 2, 2]);
  const seen = new Set(Array.from({ length: 200 }, (_, i) => groupPartition(`group-${i}`)));
  assert.equal(seen.size, CONSUMER_OFFSETS_PARTITIONS);
});

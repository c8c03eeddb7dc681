import { test } from "node:test";
import assert from "node:assert/strict";
import { TestNetwork } from "./test-network.js";

test("raft - three nodes elect a leader and replicate", () => {
  const net = new TestNetwork([1, 2, 3]);
  net.campaign(1);
  assert.equal(net.leader(), 1);
  net.propose(1, "a");
  net.propose(2, "b"); // forwarded
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), ["a", "b"]);
});

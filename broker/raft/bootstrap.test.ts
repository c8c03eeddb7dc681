import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfChangeType, emptyConfState } from "../../protocol/raft.js";
import { MemoryStorage } from "./memory-storage.js";
import { TestNetwork } from "./test-network.js";

const members = { ...emptyConfState(), voters: [1, 2, 3] };

function bootstrapped(): TestNetwork {
  const net = new TestNetwork([]);
  for (const id of [1, 2, 3]) net.add(id, emptyConfState(), MemoryStorage.bootstrap(members));
  net.stabilize(); // every member applies the bootstrap entry
  return net;
}

test("raft - bootstrap: the initial members come from the committed first entry, and a group elects and commits", () => {
  const net = bootstrapped();
  for (const id of [1, 2, 3]) assert.deepEqual(net.get(id).node.status().confState.voters, [1, 2, 3]);
  net.campaign(2);
  assert.equal(net.leader(), 2);
  net.propose(2, "a");
  for (const id of [1, 2, 3]) assert.deepEqual(net.appliedData(id), ["a"]);
});

test("raft - bootstrap: a node added later replays the log from index 1 and learns the original members", () => {
  const net = bootstrapped();
  net.campaign(1);
  net.propose(1, "a");
  net.add(4); // empty storage, knows nobody
  net.get(1).node.proposeConfChange({ changes: [{ type: ConfChangeType.AddLearner, nodeId: 4 }], transition: "auto" });
  net.stabilize();
  net.propose(1, "b");
  const four = net.get(4).node;
  assert.equal(four.log.firstIndex(), 1, "the newcomer got entries, not a snapshot");
  assert.deepEqual(four.status().confState, net.get(1).node.status().confState);
  assert.deepEqual(four.status().confState.learners, [4]);
  assert.deepEqual(net.appliedData(4), ["a", "b"]);
  // and it can take over as a voter in a joint change that removes an original member
  net.get(1).node.proposeConfChange({
    changes: [
      { type: ConfChangeType.AddNode, nodeId: 4 },
      { type: ConfChangeType.RemoveNode, nodeId: 3 },
    ],
    transition: "auto",
  });
  net.stabilize();
  net.tickAll(3);
  for (const id of [1, 2, 4]) assert.deepEqual(net.get(id).node.status().confState.voters, [1, 2, 4]);
});

test("raft - bootstrap: refuses a group without voters or starting joint", () => {
  assert.throws(() => MemoryStorage.bootstrap(emptyConfState()), /at least one voter/);
  assert.throws(() => MemoryStorage.bootstrap({ ...members, votersOutgoing: [1] }), /joint/);
});

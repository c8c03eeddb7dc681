// Log compaction and InstallSnapshot in chunks (Raft §7).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType, emptyConfState, type Message, type Snapshot } from "../../protocol/raft.js";
import { RawNode } from "./raw-node.js";
import { TestNetwork, drainNode, logTerms, message, storageWithLog, testConfig } from "./test-network.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const STATE = "state-machine:a,b,c,d,e"; // 23 bytes: 6 chunks of 4
const isSnap = (m: Message) => m.type === MessageType.Snap && m.to === 3;

/** Leader 1 of {1,2,3}; 3 misses a..e, then the leader snapshots and compacts its log past them. */
function lagging(chunk = 4): TestNetwork {
  const net = new TestNetwork([1, 2, 3], { snapshotChunkSize: chunk });
  net.campaign(1);
  net.isolate(3);
  for (const d of ["a", "b", "c", "d", "e"]) net.propose(1, d);
  compact(net, 1);
  return net;
}

/** Snapshots node `id` at what it applied and drops its log up to there. */
function compact(net: TestNetwork, id: number): number {
  const t = net.get(id);
  const index = t.applied[t.applied.length - 1].index;
  t.storage.createSnapshot(index, t.node.status().confState, enc(STATE));
  t.storage.compact(index);
  return index;
}

test("raft - a follower behind the compacted log gets the snapshot in chunks, restores it and catches up", () => {
  const net = lagging();
  const snapIndex = net.get(1).storage.firstIndex() - 1;
  net.recover();
  net.tickAll();
  const chunks = net.delivered.filter(isSnap);
  assert.equal(chunks.length, Math.ceil(STATE.length / 4), "one message per 4-byte chunk");
  assert.deepEqual(chunks.map((m) => m.snapshot!.offset), [0, 4, 8, 12, 16, 20]);
  const s3 = net.get(3);
  assert.equal(dec(s3.storage.snapshot().data), STATE);
  assert.equal(s3.storage.snapshot().meta.index, snapIndex);
  assert.deepEqual(s3.storage.snapshot().meta.confState.voters, [1, 2, 3]);
  assert.equal(s3.node.log.committed, snapIndex);
  net.propose(1, "f");
  assert.deepEqual(net.appliedData(3), ["f"], "a..e came in the snapshot; f by replication");
  assert.deepEqual(logTerms(s3.node), logTerms(net.get(1).node));
});

test("raft - a lost snapshot chunk is resent on the next heartbeat", () => {
  const net = lagging();
  net.recover();
  let dropped = 0;
  net.filter = (m) => {
    if (isSnap(m) && m.snapshot!.offset === 8 && dropped === 0) {
      dropped++;
      return false;
    }
    return true;
  };
  net.tickAll();
  assert.equal(dropped, 1);
  assert.equal(net.get(3).storage.snapshot().meta.index, 0, "stalled at the lost chunk");
  net.tickAll();
  assert.equal(dec(net.get(3).storage.snapshot().data), STATE);
  net.propose(1, "f");
  assert.deepEqual(net.appliedData(3), ["f"]);
});

test("raft - a follower that lost a partly received snapshot (restart) gets it again", () => {
  const net = lagging();
  net.recover();
  net.filter = (m) => !(isSnap(m) && m.snapshot!.offset >= 12); // three chunks get through
  net.tickAll();
  net.filter = undefined;
  net.restart(3); // the chunks it held were in memory only
  net.tickAll(3);
  assert.equal(dec(net.get(3).storage.snapshot().data), STATE);
  net.propose(1, "f");
  assert.deepEqual(net.appliedData(3), ["f"]);
});

test("raft - a node added after compaction starts empty and joins through the snapshot", () => {
  const net = new TestNetwork([1, 2, 3], { snapshotChunkSize: 4 });
  net.campaign(1);
  net.propose(1, "a");
  compact(net, 1); // taken before 4 exists: it does not list 4
  net.add(4); // no membership at all: it learns it from the snapshot, then the change that adds it
  net.get(1).node.proposeConfChange({ changes: [{ type: 2, nodeId: 4 }], transition: "auto" });
  net.stabilize();
  net.tickAll(2);
  assert.equal(dec(net.get(4).storage.snapshot().data), STATE);
  assert.deepEqual(net.get(4).node.status().confState.voters, [1, 2, 3]);
  assert.deepEqual(net.get(4).node.status().confState.learners, [4]);
  net.propose(1, "b");
  assert.deepEqual(net.appliedData(4), ["b"]);
});

test("raft - a follower that already has a snapshot's last entry fast-forwards its commit instead of restoring", () => {
  const storage = storageWithLog([1, 2, 3], [1, 1, 1, 1, 1], { term: 1, commit: 1 });
  const node = new RawNode(testConfig(3), storage);
  const meta: Snapshot["meta"] = { index: 3, term: 1, confState: { ...emptyConfState(), voters: [1, 2, 3] } };
  node.step(message(MessageType.Snap, 1, 3, 1, { index: 3, logTerm: 1, snapshot: { meta, offset: 0, total: 4, data: enc("snap") } }));
  const out = drainNode(node, storage);
  assert.equal(node.log.committed, 3);
  assert.equal(node.log.lastIndex(), 5, "entries after the snapshot are kept");
  assert.equal(storage.snapshot().meta.index, 0, "nothing restored");
  const resp = out.filter((m) => m.type === MessageType.AppResp);
  assert.deepEqual(resp.map((m) => [m.index, m.reject]), [[3, false]]);
});

test("raft - a follower already past a snapshot's index answers with its commit index", () => {
  const storage = storageWithLog([1, 2, 3], [1, 1, 1, 1, 1], { term: 1, commit: 4 });
  const node = new RawNode(testConfig(3), storage);
  const meta: Snapshot["meta"] = { index: 3, term: 1, confState: { ...emptyConfState(), voters: [1, 2, 3] } };
  node.step(message(MessageType.Snap, 1, 3, 1, { index: 3, logTerm: 1, snapshot: { meta, offset: 0, total: 4, data: enc("snap") } }));
  const out = drainNode(node, storage);
  assert.equal(node.log.committed, 4);
  assert.equal(node.log.lastIndex(), 5);
  assert.deepEqual(out.filter((m) => m.type === MessageType.AppResp).map((m) => [m.index, m.reject]), [[4, false]]);
});

test("raft - a follower whose log conflicts with the snapshot discards it and restores", () => {
  const storage = storageWithLog([1, 2, 3], [1, 1, 2, 2], { term: 3, commit: 2 });
  const node = new RawNode(testConfig(3), storage);
  const meta: Snapshot["meta"] = { index: 5, term: 3, confState: { ...emptyConfState(), voters: [1, 2, 3] } };
  node.step(message(MessageType.Snap, 1, 3, 3, { index: 5, logTerm: 3, snapshot: { meta, offset: 0, total: 4, data: enc("snap") } }));
  const out = drainNode(node, storage);
  assert.equal(storage.snapshot().meta.index, 5);
  assert.equal(node.log.committed, 5);
  assert.equal(node.log.lastIndex(), 5);
  assert.equal(node.log.firstIndex(), 6);
  assert.deepEqual(out.filter((m) => m.type === MessageType.AppResp).map((m) => [m.index, m.reject]), [[5, false]]);
});

test("raft - an up-to-date follower is not sent a snapshot after the leader compacts", () => {
  const net = new TestNetwork([1, 2, 3], { snapshotChunkSize: 4 });
  net.campaign(1);
  net.propose(1, "a");
  compact(net, 1);
  net.propose(1, "b");
  net.tickAll(3);
  assert.equal(net.count((m) => m.type === MessageType.Snap), 0);
  for (const id of [2, 3]) assert.deepEqual(net.appliedData(id), ["a", "b"]);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { emptyMessage, MessageType, type Message } from "../../protocol/raft.js";
import { MemoryStorage } from "../raft/memory-storage.js";
import { FakeDisk } from "./disk.js";
import { Network, RELIABLE } from "./network.js";
import { Rng } from "./rng.js";
import { StateMachine } from "./state-machine.js";
import { Violation } from "./checker.js";

function msg(from: number, to: number, index: number): Message {
  return { ...emptyMessage(MessageType.App, "g", from, to, 1), index };
}

test("rng - the same seed gives the same sequence, and ranges hold", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  for (let i = 0; i < 1000; i++) assert.equal(a.u32(), b.u32());
  const r = new Rng(7);
  for (let i = 0; i < 1000; i++) {
    const v = r.range(3, 5);
    assert.ok(v >= 3 && v <= 5 && Number.isInteger(v));
  }
  assert.notEqual(new Rng(1).u32(), new Rng(2).u32());
});

test("network - FIFO per link without reordering, one-way cuts, cuts that expire", () => {
  const net = new Network(new Rng(1), { ...RELIABLE, maxDelay: 3 });
  for (let i = 0; i < 20; i++) net.send(msg(1, 2, i), 0);
  const got: number[] = [];
  for (let t = 1; t <= 60; t++) for (const m of net.due(t)) got.push(m.index);
  assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));

  net.cutLink(1, 2, 10);
  net.send(msg(1, 2, 0), 5);
  net.send(msg(2, 1, 1), 5);
  const delivered = [...net.due(6), ...net.due(7), ...net.due(8)];
  assert.deepEqual(delivered.map((m) => m.from), [2]);
  assert.equal(net.healExpired(9), false);
  assert.equal(net.healExpired(10), true);
  assert.equal(net.partitioned, false);
});

test("network - loss drops, duplication copies, a crash drops what the node had in flight", () => {
  const lossy = new Network(new Rng(3), { ...RELIABLE, loss: 1 });
  lossy.send(msg(1, 2, 0), 0);
  assert.equal(lossy.inFlight, 0);
  const dupy = new Network(new Rng(3), { ...RELIABLE, dup: 1 });
  dupy.send(msg(1, 2, 0), 0);
  assert.equal(dupy.inFlight, 2);
  dupy.send(msg(3, 2, 0), 0);
  dupy.dropInFlight(1);
  assert.equal(dupy.inFlight, 2);
});

test("disk - writes become durable in order after their fsync; a crash loses the rest", () => {
  const storage = new MemoryStorage();
  const disk = new FakeDisk(storage, new Rng(5), 3);
  const e = (index: number) => ({ index, term: 1, type: 0 as const, data: new Uint8Array(0) });
  disk.write({ readyNumber: 1, entries: [e(1)], persistedMessages: [] }, 0);
  disk.write({ readyNumber: 2, entries: [e(2)], hardState: { term: 1, vote: 1, commit: 0 }, persistedMessages: [] }, 0);
  const done: number[] = [];
  for (let t = 0; t <= 3; t++) for (const w of disk.flush(t)) done.push(w.readyNumber);
  assert.deepEqual(done, [1, 2]);
  assert.equal(storage.lastIndex(), 2);
  assert.equal(storage.initialState().hardState.vote, 1);

  disk.write({ readyNumber: 3, entries: [e(3)], persistedMessages: [] }, 10);
  assert.equal(disk.crash(), 1);
  assert.deepEqual(disk.flush(100), []);
  assert.equal(storage.lastIndex(), 2);
});

test("state machine - a snapshot restores the same state; garbled bytes are a violation", () => {
  const sm = new StateMachine();
  sm.apply({ index: 1, term: 1, type: 0, data: new Uint8Array([1, 2]) });
  const afterOne = sm.hash;
  sm.apply({ index: 2, term: 2, type: 0, data: new Uint8Array([3]) });
  const data = sm.at(2)!.data;
  assert.equal(StateMachine.fromSnapshot(data, 2, 2).hash, sm.hash);
  // A snapshot a little behind the applied index carries the state of that index.
  assert.equal(StateMachine.fromSnapshot(sm.at(1)!.data, 1, 1).hash, afterOne);
  assert.equal(sm.at(3), undefined);
  const garbled = data.slice();
  garbled[20] ^= 1;
  assert.throws(() => StateMachine.fromSnapshot(garbled, 2, 2), Violation);
});

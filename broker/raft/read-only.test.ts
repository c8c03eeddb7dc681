// The ReadIndex queue: requests wait for a quorum of heartbeat answers, in arrival order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageType, emptyMessage, type Message } from "../../protocol/raft.js";
import { ReadOnly } from "./read-only.js";

const ctx = (s: string) => new TextEncoder().encode(s);
function req(c: string, from = 1): Message {
  const m = emptyMessage(MessageType.ReadIndex, "g", from, 1, 0);
  m.context = ctx(c);
  return m;
}
const names = (rs: Array<{ req: Message }>) => rs.map((r) => new TextDecoder().decode(r.req.context));

test("raft - read-only: acknowledgements are collected per request", () => {
  const ro = new ReadOnly();
  ro.add(5, req("a"));
  assert.deepEqual([...ro.recvAck(2, ctx("a"))!.keys()], [2]);
  assert.deepEqual([...ro.recvAck(3, ctx("a"))!.keys()].sort(), [2, 3]);
  assert.deepEqual([...ro.recvAck(3, ctx("a"))!.keys()].sort(), [2, 3], "a repeated answer counts once");
  assert.equal(ro.recvAck(2, ctx("unknown")), undefined);
});

test("raft - read-only: a quorum for a request releases it and every request queued before it", () => {
  const ro = new ReadOnly();
  ro.add(5, req("a"));
  ro.add(6, req("b"));
  ro.add(7, req("c"));
  assert.deepEqual(new TextDecoder().decode(ro.lastPendingContext()), "c");
  const done = ro.advance(ctx("b"));
  assert.deepEqual(names(done), ["a", "b"]);
  assert.deepEqual(done.map((d) => d.index), [5, 6], "each is served at the commit index it arrived at");
  assert.deepEqual(new TextDecoder().decode(ro.lastPendingContext()), "c");
  assert.deepEqual(ro.advance(ctx("b")), [], "already released");
  assert.deepEqual(names(ro.advance(ctx("c"))), ["c"]);
  assert.equal(ro.lastPendingContext(), undefined);
});

test("raft - read-only: a duplicate context is queued once; reset drops everything", () => {
  const ro = new ReadOnly();
  ro.add(5, req("a"));
  ro.add(9, req("a"));
  const done = ro.advance(ctx("a"));
  assert.equal(done.length, 1);
  assert.equal(done[0].index, 5);
  ro.add(5, req("x"));
  ro.reset();
  assert.equal(ro.lastPendingContext(), undefined);
  assert.deepEqual(ro.advance(ctx("x")), []);
});

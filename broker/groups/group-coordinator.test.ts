import { test } from "node:test";
import assert from "node:assert/strict";
import { DecodeError } from "../../protocol/decode-error.js";
import { FlotillaError } from "../../protocol/errors.js";
import { mutate, prng } from "../../protocol/test-util.js";
import { GroupCoordinator } from "./group-coordinator.js";
import { decodeOffsetBatch, encodeOffsetBatch, type OffsetCommit } from "./offset-records.js";

function coordinator(opts: { graceMs?: number; failAppend?: boolean } = {}) {
  let now = 1_000;
  let ids = 0;
  const log: Uint8Array[] = [];
  const c = new GroupCoordinator({
    now: () => now,
    partitionsOf: (t) => (t === "orders" ? 6 : undefined),
    append: async (commits) => {
      if (opts.failAppend) throw new FlotillaError("NOT_LEADER", "lost leadership");
      log.push(encodeOffsetBatch(commits));
    },
    newMemberId: (clientId) => `${clientId}-${++ids}`,
    takeoverGraceMs: opts.graceMs ?? 0,
  });
  return { c, log, advance: (ms: number) => (now += ms) };
}

const joinReq = { groupId: "billing", clientId: "app", topics: ["orders"], sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000 };
const code = (c: string) => (e: unknown) => e instanceof FlotillaError && e.code === c;

test("group coordinator - a commit is appended before it is acknowledged, and a new coordinator rebuilds it from the log", async () => {
  const { c, log } = coordinator();
  const { memberId, assignment } = c.join(joinReq);
  assert.equal(assignment[0].partitions.length, 6);
  await c.commit({ groupId: "billing", memberId, generation: 1, offsets: [{ topic: "orders", partition: 2, offset: 42n }] });
  assert.equal(log.length, 1);
  assert.deepEqual(c.fetchOffsets({ groupId: "billing" }), [{ topic: "orders", partition: 2, offset: 42n }]);

  const next = coordinator().c;
  for (const batch of log) next.applyCommits(decodeOffsetBatch(batch));
  assert.deepEqual(next.fetchOffsets({ groupId: "billing", partitions: [{ topic: "orders", partitions: [1, 2] }] }), [{ topic: "orders", partition: 2, offset: 42n }]);
  assert.deepEqual(next.listGroups(), [{ groupId: "billing", state: "empty", members: 0 }]);
  // Members of the old coordinator are unknown here: they join again.
  assert.throws(() => next.heartbeat({ groupId: "billing", memberId, generation: 1, owned: [] }), code("UNKNOWN_MEMBER"));
});

test("group coordinator - a failed append is not acknowledged and changes nothing", async () => {
  const { c } = coordinator({ failAppend: true });
  await assert.rejects(c.commit({ groupId: "g", offsets: [{ topic: "orders", partition: 0, offset: 1n }] }), code("NOT_LEADER"));
  assert.deepEqual(c.fetchOffsets({ groupId: "g" }), []);
});

test("group coordinator - a member commits no partition another member owns; outsiders only for an empty group", async () => {
  const { c } = coordinator();
  const a = c.join(joinReq);
  const b = c.join(joinReq);
  const bOwned = c.heartbeat({ groupId: "billing", memberId: b.memberId, generation: b.generation, owned: [] });
  assert.deepEqual(bOwned.assignment, [], "a holds everything until it gives some up");
  await assert.rejects(c.commit({ groupId: "billing", memberId: b.memberId, generation: 2, offsets: [{ topic: "orders", partition: 0, offset: 1n }] }), code("ILLEGAL_GENERATION"));
  // A partition nobody owns (as KafkaJS users commit right after run(), before any assignment): fine.
  await c.commit({ groupId: "billing", memberId: b.memberId, generation: 2, offsets: [{ topic: "audit", partition: 0, offset: 5n }] });
  await assert.rejects(c.commit({ groupId: "billing", offsets: [{ topic: "orders", partition: 0, offset: 1n }] }), code("INVALID_REQUEST"));
  await assert.rejects(c.resetOffsets("billing", [{ topic: "orders", partition: 0, offset: 0n }]), code("INVALID_REQUEST"));
  await assert.rejects(c.commit({ groupId: "billing", memberId: "nobody", generation: 2, offsets: [] }), code("UNKNOWN_MEMBER"));
  c.leave({ groupId: "billing", memberId: a.memberId });
  c.leave({ groupId: "billing", memberId: b.memberId });
  await c.resetOffsets("billing", [{ topic: "orders", partition: 0, offset: 7n }]);
  assert.deepEqual(c.fetchOffsets({ groupId: "billing", partitions: [{ topic: "orders", partitions: [0] }] }), [{ topic: "orders", partition: 0, offset: 7n }]);
});

test("group coordinator - describe, list, expiry, and heartbeats sped up while partitions move", () => {
  const { c, advance } = coordinator();
  const a = c.join(joinReq);
  assert.equal(a.heartbeatIntervalMs, 3000);
  const b = c.join({ ...joinReq, clientId: "other" });
  assert.equal(b.heartbeatIntervalMs, 200, "b waits for a to give up its share");
  const d = c.describeGroup("billing");
  assert.equal(d.state, "rebalancing");
  assert.deepEqual(d.members.map((m) => m.clientId).sort(), ["app", "other"]);
  assert.equal(c.describeGroup("nope").state, "dead");
  advance(10_001);
  c.heartbeat({ groupId: "billing", memberId: b.memberId, generation: 0, owned: [] });
  c.expire();
  assert.deepEqual(c.listGroups(), [{ groupId: "billing", state: "rebalancing", members: 1 }]);
  c.heartbeat({ groupId: "billing", memberId: b.memberId, generation: 0, owned: [] });
  assert.equal(c.describeGroup("billing").state, "stable");
});

test("group coordinator - a coordinator that just took over hands out nothing during its grace period, and takes the old members' last commits", async () => {
  const { c, advance } = coordinator({ graceMs: 3000 });
  const old = { groupId: "billing", memberId: "of-the-old-coordinator", generation: 7, offsets: [{ topic: "orders", partition: 1, offset: 9n }] };
  await c.commit(old);
  assert.deepEqual(c.fetchOffsets({ groupId: "billing" }), old.offsets);
  const a = c.join(joinReq);
  assert.deepEqual(a.assignment, []);
  assert.equal(a.heartbeatIntervalMs, 200);
  advance(3000);
  assert.equal(c.heartbeat({ groupId: "billing", memberId: a.memberId, generation: a.generation, owned: [] }).assignment[0].partitions.length, 6);
  await assert.rejects(c.commit(old), code("UNKNOWN_MEMBER"), "after the grace period, only members commit");
});

test("offset records - round trip, and a damaged batch is a DecodeError", () => {
  const commits: OffsetCommit[] = [
    { groupId: "billing", topic: "orders", partition: 3, offset: 2n ** 62n },
    { groupId: "g€", topic: "a.b", partition: 0, offset: 0n },
  ];
  const batch = encodeOffsetBatch(commits);
  assert.deepEqual(decodeOffsetBatch(batch), commits);
  const rand = prng(5);
  for (let i = 0; i < 500; i++) {
    const bad = mutate(rand, batch);
    try {
      decodeOffsetBatch(bad);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw new Error(`case ${i}: ${(e as Error).message}`);
    }
  }
});

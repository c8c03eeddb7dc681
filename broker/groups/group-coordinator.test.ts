import { test } from "node:test";
import assert from "node:assert/strict";
import { DecodeError } from "../../protocol/decode-error.js";
import { FlotillaError } from "../../protocol/errors.js";
import { mutate, prng } from "../../protocol/test-util.js";
import { GroupCoordinator } from "./group-coordinator.js";
import { decodeGroupBatch, encodeMembersBatch, encodeOffsetBatch, type GroupRecord } from "./group-records.js";

function coordinator(opts: { graceMs?: number; failAppend?: boolean } = {}) {
  let now = 1_000;
  let ids = 0;
  const log: Uint8Array[] = [];
  const c = new GroupCoordinator({
    now: () => now,
    partitionsOf: (t) => (t === "orders" ? 6 : undefined),
    append: async (batch) => {
      if (opts.failAppend) throw new FlotillaError("NOT_LEADER", "lost leadership");
      log.push(batch);
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
  const { memberId, assignment } = await c.join(joinReq);
  assert.equal(assignment[0].partitions.length, 6);
  await c.commit({ groupId: "billing", memberId, generation: 1, offsets: [{ topic: "orders", partition: 2, offset: 42n }] });
  assert.equal(log.length, 2, "the new member's record, then the commit");
  assert.deepEqual(c.fetchOffsets({ groupId: "billing" }), [{ topic: "orders", partition: 2, offset: 42n }]);

  const next = coordinator().c;
  for (const batch of log) next.apply(decodeGroupBatch(batch));
  assert.deepEqual(next.fetchOffsets({ groupId: "billing", partitions: [{ topic: "orders", partitions: [1, 2] }] }), [{ topic: "orders", partition: 2, offset: 42n }]);
  // The member is known to the new coordinator, which learns what it consumes from its heartbeat.
  assert.deepEqual(next.listGroups(), [{ groupId: "billing", state: "rebalancing", members: 1 }]);
  const all = [{ topic: "orders", partitions: [0, 1, 2, 3, 4, 5] }];
  assert.deepEqual(next.heartbeat({ groupId: "billing", memberId, generation: 1, owned: all }).assignment, all);
  assert.equal(next.describeGroup("billing").state, "stable");
  assert.throws(() => next.heartbeat({ groupId: "billing", memberId: "app-99", generation: 1, owned: [] }), code("UNKNOWN_MEMBER"));
});

test("group coordinator - a new coordinator restores the members: they go on consuming, nothing moves until each has reported, and one that never reports is removed at its session timeout", async () => {
  const { c: old, log } = coordinator();
  const a = await old.join(joinReq);
  const b = await old.join({ ...joinReq, clientId: "other", sessionTimeoutMs: 5000 });
  const aHalf = old.heartbeat({ groupId: "billing", memberId: a.memberId, generation: 0, owned: a.assignment }).assignment;
  assert.equal(aHalf[0].partitions.length, 3, "a gives up half to b");
  old.heartbeat({ groupId: "billing", memberId: a.memberId, generation: 0, owned: aHalf });
  const bHalf = old.heartbeat({ groupId: "billing", memberId: b.memberId, generation: 0, owned: [] }).assignment;
  assert.equal(bHalf[0].partitions.length, 3);

  const { c: next, advance, log: appendedByNext } = coordinator();
  for (const batch of log) next.apply(decodeGroupBatch(batch));
  // a reports first: it keeps its half, and b's half is not handed out while b has not reported.
  assert.deepEqual(next.heartbeat({ groupId: "billing", memberId: a.memberId, generation: 0, owned: aHalf }).assignment, aHalf);
  advance(4000);
  assert.deepEqual(next.heartbeat({ groupId: "billing", memberId: a.memberId, generation: 0, owned: aHalf }).assignment, aHalf);
  assert.equal(next.describeGroup("billing").state, "rebalancing");
  // b never reports: at its session timeout it is removed, the removal is recorded, and a gets all.
  advance(1001);
  next.expire();
  assert.equal(next.heartbeat({ groupId: "billing", memberId: a.memberId, generation: 0, owned: aHalf }).assignment[0].partitions.length, 6);
  const third = coordinator().c;
  for (const batch of [...log, ...appendedByNext]) third.apply(decodeGroupBatch(batch));
  assert.deepEqual(third.describeGroup("billing").members.map((m) => m.memberId), [a.memberId]);
});

test("group coordinator - a failed append is not acknowledged and changes nothing", async () => {
  const { c } = coordinator({ failAppend: true });
  await assert.rejects(c.commit({ groupId: "g", offsets: [{ topic: "orders", partition: 0, offset: 1n }] }), code("NOT_LEADER"));
  assert.deepEqual(c.fetchOffsets({ groupId: "g" }), []);
});

test("group coordinator - a member commits no partition another member owns; outsiders only for an empty group", async () => {
  const { c } = coordinator();
  const a = await c.join(joinReq);
  const b = await c.join(joinReq);
  const bOwned = c.heartbeat({ groupId: "billing", memberId: b.memberId, generation: b.generation, owned: [] });
  assert.deepEqual(bOwned.assignment, [], "a holds everything until it gives some up");
  await assert.rejects(c.commit({ groupId: "billing", memberId: b.memberId, generation: 2, offsets: [{ topic: "orders", partition: 0, offset: 1n }] }), code("ILLEGAL_GENERATION"));
  // A partition nobody owns (as KafkaJS users commit right after run(), before any assignment): fine.
  await c.commit({ groupId: "billing", memberId: b.memberId, generation: 2, offsets: [{ topic: "audit", partition: 0, offset: 5n }] });
  await assert.rejects(c.commit({ groupId: "billing", offsets: [{ topic: "orders", partition: 0, offset: 1n }] }), code("INVALID_REQUEST"));
  await assert.rejects(c.resetOffsets("billing", [{ topic: "orders", partition: 0, offset: 0n }]), code("INVALID_REQUEST"));
  await assert.rejects(c.commit({ groupId: "billing", memberId: "nobody", generation: 2, offsets: [] }), code("UNKNOWN_MEMBER"));
  await c.leave({ groupId: "billing", memberId: a.memberId });
  await c.leave({ groupId: "billing", memberId: b.memberId });
  await c.resetOffsets("billing", [{ topic: "orders", partition: 0, offset: 7n }]);
  assert.deepEqual(c.fetchOffsets({ groupId: "billing", partitions: [{ topic: "orders", partitions: [0] }] }), [{ topic: "orders", partition: 0, offset: 7n }]);
});

test("group coordinator - describe, list, expiry, and heartbeats sped up while partitions move", async () => {
  const { c, advance } = coordinator();
  const a = await c.join(joinReq);
  assert.equal(a.heartbeatIntervalMs, 3000);
  const b = await c.join({ ...joinReq, clientId: "other" });
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
  const a = await c.join(joinReq);
  assert.deepEqual(a.assignment, []);
  assert.equal(a.heartbeatIntervalMs, 200);
  advance(3000);
  assert.equal(c.heartbeat({ groupId: "billing", memberId: a.memberId, generation: a.generation, owned: [] }).assignment[0].partitions.length, 6);
  await assert.rejects(c.commit(old), code("UNKNOWN_MEMBER"), "after the grace period, only members commit");
});

test("group records - round trip, and a damaged batch is a DecodeError", () => {
  const records: Array<GroupRecord & { kind: "offset" }> = [
    { kind: "offset", groupId: "billing", topic: "orders", partition: 3, offset: 2n ** 62n },
    { kind: "offset", groupId: "g€", topic: "a.b", partition: 0, offset: 0n },
  ];
  const members: GroupRecord = {
    kind: "members",
    groupId: "billing",
    generation: 12,
    members: [{ memberId: "app-1", clientId: "app", topics: ["a.b", "orders"], sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 60_000 }],
  };
  const batches = [encodeOffsetBatch(records.map(({ kind: _, ...c }) => c)), encodeMembersBatch(members)];
  assert.deepEqual(decodeGroupBatch(batches[0]), records);
  assert.deepEqual(decodeGroupBatch(batches[1]), [members]);
  assert.deepEqual(decodeGroupBatch(encodeMembersBatch({ groupId: "empty", generation: 3, members: [] })), [{ kind: "members", groupId: "empty", generation: 3, members: [] }]);
  const rand = prng(5);
  for (let i = 0; i < 1000; i++) {
    const bad = mutate(rand, batches[i % 2]);
    try {
      decodeGroupBatch(bad);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw new Error(`case ${i}: ${(e as Error).message}`);
    }
  }
});

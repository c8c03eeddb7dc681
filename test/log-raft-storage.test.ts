/**
 * Storage - the Raft core on the real log: RaftLogStorage over SegmentLog + the LMDB StateStore,
 * driven by RawNode Readies, including conflicting suffixes, restarts, and a partition codec that
 * stores data entries as record batches with offsets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { EntryType, type Entry, type Message } from "../protocol/raft.js";
import { readBatchHeader } from "../protocol/record-batch.js";
import { RawNode } from "../broker/raft/raw-node.js";
import { GroupCommitter, type Syncer } from "../broker/log/group-committer.js";
import { SegmentLog } from "../broker/log/segment-log.js";
import { RaftLogStorage, type EntryCodec } from "../broker/log/raft-storage.js";
import { StateStore } from "../broker/state/state-store.js";
import { capturingLogger, makeBatch, tempDir } from "./log-fixtures.js";

const instantSyncer: Syncer = { parallelism: 1, sync: async () => [], close: async () => undefined };
const voters = (ids: number[]) => ({ voters: ids, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false });

function entry(index: number, term: number, text: string): Entry {
  return { index, term, type: EntryType.Normal, data: Buffer.from(text) };
}

interface Opened {
  storage: RaftLogStorage;
  log: SegmentLog;
  state: StateStore;
  close(): Promise<void>;
}

async function openStorage(dir: string, group: string, ids: number[], codec?: EntryCodec, tailCacheBytes?: number): Promise<Opened> {
  const committer = new GroupCommitter(instantSyncer);
  const log = await SegmentLog.open({ dir: join(dir, "log"), committer, segmentBytes: 2048, logger: capturingLogger().logger });
  const state = StateStore.open({ path: join(dir, "state") });
  const storage = await RaftLogStorage.open({ group, log, state, codec, initialConfState: voters(ids), tailCacheBytes });
  return {
    storage,
    log,
    state,
    close: async () => {
      await log.close();
      await state.close();
    },
  };
}

test("raft storage - persists entries and hard state, replaces a conflicting suffix, survives a reopen", async (t) => {
  const dir = tempDir(t);
  const a = await openStorage(dir, "g", [1], undefined, 64);
  const s = a.storage;
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 0);
  assert.equal(s.term(0), 0);
  await s.persist({ entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1, `e${i}`)), hardState: { term: 1, vote: 1, commit: 2 } });
  assert.equal(s.lastIndex(), 5);
  // A new leader's entries replace 4..5.
  await s.persist({ entries: [entry(4, 2, "x4"), entry(5, 2, "x5"), entry(6, 2, "x6")], hardState: { term: 2, vote: 2, commit: 3 } });
  assert.deepEqual(
    s.entries(1, 7, 0).map((e) => [e.index, e.term, Buffer.from(e.data).toString()]),
    [
      [1, 1, "e1"],
      [2, 1, "e2"],
      [3, 1, "e3"],
      [4, 2, "x4"],
      [5, 2, "x5"],
      [6, 2, "x6"],
    ],
  );
  // maxSize limits the answer but always returns one entry.
  assert.equal(s.entries(1, 7, 1).length, 1);
  assert.equal(s.entries(1, 7, 2 * (16 + 2)).length, 2);
  assert.throws(() => s.entries(0, 2, 0), RangeError);
  assert.throws(() => s.term(7), RangeError);
  await a.close();

  const b = await openStorage(dir, "g", [1], undefined, 64);
  assert.deepEqual(b.storage.initialState().hardState, { term: 2, vote: 2, commit: 3 });
  assert.equal(b.storage.lastIndex(), 6);
  assert.deepEqual([1, 3, 4, 6].map((i) => b.storage.term(i)), [1, 1, 2, 2]);
  assert.deepEqual(
    b.storage.entries(3, 7, 0).map((e) => Buffer.from(e.data).toString()),
    ["e3", "x4", "x5", "x6"],
  );
  await b.close();
});

test("raft storage - an installed snapshot replaces the log, and a crash before the log reset is repaired", async (t) => {
  const dir = tempDir(t);
  const a = await openStorage(dir, "g", [1, 2, 3]);
  await a.storage.persist({ entries: [1, 2, 3].map((i) => entry(i, 1, `e${i}`)) });
  await a.storage.persist({
    snapshot: { meta: { index: 10, term: 3, confState: voters([1, 2, 3]) }, data: Buffer.from("snap") },
    entries: [entry(11, 3, "after")],
    hardState: { term: 3, vote: 0, commit: 10 },
  });
  assert.equal(a.storage.firstIndex(), 11);
  assert.equal(a.storage.lastIndex(), 11);
  assert.equal(a.storage.term(10), 3);
  await a.close();
  const b = await openStorage(dir, "g", [1, 2, 3]);
  assert.equal(b.storage.firstIndex(), 11);
  assert.equal(b.storage.lastIndex(), 11);
  assert.equal(Buffer.from(b.storage.snapshot().data).toString(), "snap");
  assert.equal(Buffer.from(b.storage.entries(11, 12, 0)[0].data).toString(), "after");
  // Simulate a crash between recording a newer snapshot and resetting the log.
  await b.state.putSnapshot("g", { index: 20, term: 4, confState: voters([1, 2, 3]), nextOffset: 0n, logStartOffset: 0n, data: Buffer.from("s2") });
  await b.close();
  const c = await openStorage(dir, "g", [1, 2, 3]);
  assert.equal(c.storage.firstIndex(), 21);
  assert.equal(c.storage.lastIndex(), 20);
  assert.equal(c.log.firstIndex, 21);
  await c.close();
});

/** A partition-style codec for the test: data = 16-byte batch id + record batch (offsets stamped). */
const testPartitionCodec: EntryCodec = {
  toLog: (e) =>
    e.type === EntryType.Normal && e.data.length > 16
      ? { kind: "batch", index: e.index, term: e.term, batchId: e.data.subarray(0, 16), batch: Buffer.from(e.data.buffer, e.data.byteOffset + 16, e.data.byteLength - 16) }
      : { kind: "control", index: e.index, term: e.term, entryType: e.type, data: e.data },
  fromLog: (s) => ({
    index: s.index,
    term: s.term,
    type: s.entryType === EntryType.ConfChange ? EntryType.ConfChange : EntryType.Normal,
    data: s.kind === "batch" ? Buffer.concat([s.batchId ?? Buffer.alloc(16), s.payload]) : s.payload,
  }),
  snapshotPosition: () => ({ nextOffset: 0n, logStartOffset: 0n }),
};

/** What applying an entry sees of it. */
function applyRecord(e: Entry): [number, number, string] {
  return [e.index, e.term, Buffer.from(e.data).toString("hex")];
}

interface Member {
  id: number;
  dir: string;
  opened: Opened;
  node: RawNode;
  inbox: Message[];
  applied: Entry[];
}

async function startMember(id: number, dir: string, ids: number[]): Promise<Member> {
  const opened = await openStorage(dir, "p0", ids, testPartitionCodec);
  let seed = id * 7919;
  const node = new RawNode({ id, group: "p0", electionTick: 10, heartbeatTick: 1, random: (n) => (seed = (seed * 48271) % 2147483647) % n }, opened.storage);
  return { id, dir, opened, node, inbox: [], applied: [] };
}

/** Runs every member's Ready loop (send, persist, send after persist, apply, advance) until quiet. */
async function stabilize(members: Member[]): Promise<void> {
  const byId = new Map(members.map((m) => [m.id, m]));
  const send = (msgs: Message[]): void => {
    for (const msg of msgs) byId.get(msg.to)?.inbox.push(msg);
  };
  for (let round = 0; round < 500; round++) {
    let busy = false;
    for (const m of members) {
      for (const msg of m.inbox.splice(0)) m.node.step(msg);
      if (!m.node.hasReady()) continue;
      busy = true;
      const rd = m.node.ready();
      send(rd.messages); // in parallel with the disk write, as DESIGN.md says
      await m.opened.storage.persist(rd);
      send(rd.persistedMessages);
      m.applied.push(...rd.committedEntries);
      m.node.advance(rd);
    }
    if (!busy && members.every((m) => m.inbox.length === 0)) return;
  }
  throw new Error("cluster did not go quiet");
}

test("raft storage - a three-node group replicates record batches with offsets and restarts from disk", async (t) => {
  const root = tempDir(t);
  const ids = [1, 2, 3];
  let members = await Promise.all(ids.map((id) => startMember(id, join(root, `n${id}`), ids)));
  members[0].node.campaign();
  await stabilize(members);
  assert.equal(members[0].node.status().softState.role, "leader");

  // The leader stamps offsets as it proposes, as the partition will.
  let nextOffset = 0n;
  for (let i = 0; i < 30; i++) {
    const batch = makeBatch(nextOffset, 1 + (i % 4), { tag: `p${i}` });
    nextOffset += BigInt(1 + (i % 4));
    members[0].node.propose(Buffer.concat([Buffer.alloc(16, i), batch]));
    if (i % 5 === 4) await stabilize(members);
  }
  await stabilize(members);
  for (const m of members) {
    assert.equal(m.opened.log.nextOffset, nextOffset, `node ${m.id} holds every offset`);
    const bytes = await m.opened.log.read(0n, 1 << 20);
    assert.equal(readBatchHeader(bytes, 0).baseOffset, 0n);
  }
  const lastIndex = members[0].opened.storage.lastIndex();
  const appliedBefore = members.map((m) => m.applied.map(applyRecord));
  assert.ok(appliedBefore.every((a) => a.length > 0));

  // Restart every node from disk with no applied index at all (the stalest checkpoint there is:
  // a partition's own may lag by many entries): each applies its log again from the start, and
  // gets exactly the entries it applied before, then the new ones.
  for (const m of members) await m.opened.close();
  members = await Promise.all(members.map((m) => startMember(m.id, m.dir, ids)));
  for (const m of members) {
    assert.equal(m.opened.storage.lastIndex(), lastIndex);
    assert.ok(m.opened.storage.initialState().hardState.commit >= lastIndex - 1);
  }
  members[1].node.campaign();
  await stabilize(members);
  for (const [i, m] of members.entries()) {
    assert.deepEqual(m.applied.slice(0, appliedBefore[i].length).map(applyRecord), appliedBefore[i], `node ${m.id} applies the same entries again`);
    assert.ok(m.applied.length > appliedBefore[i].length);
  }
  const batch = makeBatch(nextOffset, 2, { tag: "after-restart" });
  members[1].node.propose(Buffer.concat([Buffer.alloc(16, 99), batch]));
  await stabilize(members);
  const logs = await Promise.all(members.map((m) => m.opened.log.readEntries(1, m.opened.log.lastIndex + 1, 1 << 24)));
  for (const l of logs) {
    assert.deepEqual(
      l.map((e) => [e.index, e.term, e.kind, e.offset]),
      logs[0].map((e) => [e.index, e.term, e.kind, e.offset]),
      "every replica holds the same entries at the same offsets",
    );
  }
  assert.equal(members[2].opened.log.nextOffset, nextOffset + 2n);

  // Retention through the storage stops at the snapshot; after one, old segments may go.
  const s3 = members[2].opened.storage;
  assert.equal(await s3.enforceRetention({ now: Date.now(), retentionBytes: 1 }), 0, "no snapshot yet: nothing may go");
  const snapIndex = s3.lastIndex() - 1;
  await s3.createSnapshot(snapIndex, voters(ids), Buffer.from("p0"), { nextOffset: 0n, logStartOffset: 0n });
  assert.ok((await s3.enforceRetention({ now: Date.now(), retentionBytes: 1 })) > 0);
  assert.ok(members[2].opened.log.firstIndex <= snapIndex + 1);
  assert.equal(s3.firstIndex(), snapIndex + 1);
  for (const m of members) await m.opened.close();
});

import { after, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { decodeRecords, encodeRecordBatch, iterateBatches } from "../../protocol/record-batch.js";
import { FlotillaError } from "../../protocol/errors.js";
import { ConfChangeType } from "../../protocol/raft.js";
import { GroupCommitter, ThreadPoolSyncer } from "../log/index.js";
import { StateStore } from "../state/index.js";
import { FaultyTransport, InProcessNetwork, NetworkFaults } from "../transport/index.js";
import { PartitionReplica, RaftRouter, type Acks, type PartitionReplicaOptions } from "./index.js";
import { CHECKPOINT_NS, readCheckpoint } from "./replica-checkpoint.js";

const logger = pino({ level: process.env.FLOTILLA_TEST_LOG ?? "silent" });
// One committer (real fdatasync on the thread pool) for every broker of the file: real files, real fsync.
const syncer = new ThreadPoolSyncer({ threads: 2 });
const committer = new GroupCommitter(syncer);
after(async () => {
  await committer.close();
});

function batch(tag: string, count = 3): Uint8Array {
  const records = [];
  for (let i = 0; i < count; i++) records.push({ key: Buffer.from(`k${i}`), value: Buffer.from(`${tag}#${i}`) });
  return encodeRecordBatch(records, { timestamp: 1_700_000_000_000n });
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Broker {
  id: number;
  dir: string;
  store: StateStore;
  router: RaftRouter;
  replica?: PartitionReplica;
}

/** Three brokers in one process over an in-process network with fault injection, in temp dirs. */
class Cluster {
  readonly root: string;
  readonly faults = new NetworkFaults();
  readonly network = new InProcessNetwork({ logger });
  readonly brokers = new Map<number, Broker>();

  constructor(
    t: { after: (fn: () => Promise<void> | void) => void },
    private readonly extra: Partial<PartitionReplicaOptions> = {},
    ids = [1, 2, 3],
  ) {
    this.root = mkdtempSync(join(tmpdir(), "flotilla-partition-"));
    for (const id of ids) {
      const dir = join(this.root, `broker-${id}`);
      const transport = new FaultyTransport(this.network.connect(id), this.faults);
      this.brokers.set(id, { id, dir, store: StateStore.open({ path: join(dir, "state") }), router: new RaftRouter(transport) });
    }
    t.after(async () => {
      for (const b of this.brokers.values()) {
        await b.replica?.close({ abrupt: true });
        await b.router.transport.close();
        await b.store.close();
      }
      rmSync(this.root, { recursive: true, force: true });
    });
  }

  async start(id: number, more: Partial<PartitionReplicaOptions> = {}): Promise<PartitionReplica> {
    const b = this.brokers.get(id)!;
    b.replica = await PartitionReplica.open({
      topic: "orders",
      partition: 0,
      brokerId: id,
      voters: [...this.brokers.keys()],
      dir: join(b.dir, "orders-0"),
      committer,
      stateStore: b.store,
      router: b.router,
      logger,
      tickMs: 10,
      electionTick: 10,
      heartbeatTick: 1,
      ...this.extra,
      ...more,
    });
    return b.replica;
  }

  async startAll(): Promise<void> {
    for (const id of this.brokers.keys()) await this.start(id);
  }

  replica(id: number): PartitionReplica {
    return this.brokers.get(id)!.replica!;
  }

  live(): PartitionReplica[] {
    return [...this.brokers.values()].flatMap((b) => (b.replica ? [b.replica] : []));
  }

  async leader(except?: number): Promise<PartitionReplica> {
    return waitFor("a leader", () => {
      const leaders = this.live().filter((r) => r.isLeader && r.id !== except);
      return leaders.length === 1 ? leaders[0] : undefined;
    });
  }

  async kill(id: number): Promise<void> {
    const b = this.brokers.get(id)!;
    await b.replica!.close({ abrupt: true });
    b.replica = undefined;
  }

  /** Waits until every live replica's high watermark is at least `hw`. */
  async converge(hw: bigint): Promise<void> {
    await waitFor(`high watermark ${hw} everywhere`, () => this.live().every((r) => r.status().highWatermark >= hw));
  }
}

async function fetchAll(r: PartitionReplica): Promise<Uint8Array> {
  const res = await r.fetch({ offset: 0n, maxBytes: 64 << 20, maxWaitMs: 0 });
  return res.batches;
}

/** Every record value in the batches, in offset order, with its offset. */
function records(bytes: Uint8Array): Array<{ offset: bigint; value: string; epoch: number }> {
  const out: Array<{ offset: bigint; value: string; epoch: number }> = [];
  for (const span of iterateBatches(bytes, 0, bytes.length, { verifyCrc: true })) {
    const recs = decodeRecords(bytes.subarray(span.at, span.at + span.size));
    recs.forEach((r, i) => out.push({ offset: span.header.baseOffset + BigInt(i), value: Buffer.from(r.value!).toString(), epoch: span.header.partitionLeaderEpoch }));
  }
  return out;
}

function code(err: unknown): string {
  return err instanceof FlotillaError ? err.code : `not a FlotillaError: ${String(err)}`;
}

test("partition - produce and consume with acks all, leader and none; offsets identical on every replica", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  const expected: Array<{ tag: string; base: bigint }> = [];
  let next = 0n;
  for (const acks of ["all", "leader", "none", "all", "leader", "none", "all"] as Acks[]) {
    const tag = `${acks}-${expected.length}`;
    const { baseOffset } = await leader.produce({ batch: batch(tag), batchId: randomBytes(16), acks });
    assert.equal(baseOffset, next, `${tag} gets the next offset`);
    expected.push({ tag, base: baseOffset });
    next += 3n;
  }
  await c.converge(next);
  const bytes = await Promise.all(c.live().map(fetchAll));
  for (const b of bytes.slice(1)) assert.deepEqual(Buffer.from(b), Buffer.from(bytes[0]), "every replica serves the same bytes");
  const recs = records(bytes[0]);
  assert.equal(recs.length, Number(next));
  const term = leader.status().term;
  for (const [i, e] of expected.entries()) {
    for (let k = 0; k < 3; k++) {
      assert.deepEqual(recs[i * 3 + k], { offset: e.base + BigInt(k), value: `${e.tag}#${k}`, epoch: term });
    }
  }
  // A fetch from the middle starts with the batch holding the offset; maxBytes keeps whole batches.
  const mid = await leader.fetch({ offset: 4n, maxBytes: 1, maxWaitMs: 0 });
  assert.deepEqual(records(mid.batches).map((r) => r.offset), [3n, 4n, 5n]);
  assert.equal(mid.highWatermark, next);
  await assert.rejects(leader.fetch({ offset: next + 1n, maxBytes: 1000, maxWaitMs: 0 }), (e) => code(e) === "OFFSET_OUT_OF_RANGE");
  // Linearizable read point on a follower too.
  const follower = c.live().find((r) => !r.isLeader)!;
  await follower.readIndex();

  // Many batches in flight: offsets follow arrival order; a retry while the first attempt is
  // still in flight gets the same offset and appends nothing.
  const id = randomBytes(16);
  const inFlight = [leader.produce({ batch: batch("dup"), batchId: id, acks: "all" })];
  for (let i = 0; i < 20; i++) inFlight.push(leader.produce({ batch: batch(`seq${i}`, 2), batchId: randomBytes(16), acks: i % 2 ? "all" : "leader" }));
  inFlight.push(leader.produce({ batch: batch("dup"), batchId: id, acks: "all" }));
  inFlight.push(leader.produce({ batch: batch("dup"), batchId: id, acks: "leader" }));
  const offsets = (await Promise.all(inFlight)).map((r) => r.baseOffset);
  assert.equal(offsets[0], next);
  for (let i = 1; i <= 20; i++) assert.equal(offsets[i], next + 3n + BigInt(i - 1) * 2n, "arrival order");
  assert.deepEqual(offsets.slice(21), [next, next], "the in-flight retries get the original offset");
  await c.converge(next + 43n);
  const tail = records(await fetchAll(follower)).slice(Number(next));
  assert.equal(tail.filter((r) => r.value === "dup#0").length, 1, "the duplicate was appended once");
  assert.deepEqual(tail.filter((r) => r.value.endsWith("#0") && r.value.startsWith("seq")).map((r) => r.value), [...Array(20).keys()].map((i) => `seq${i}#0`));
});

test("partition - bad batches are rejected with clear codes and nothing is appended", async (t) => {
  const c = new Cluster(t, { maxBatchBytes: 16 * 1024 });
  await c.startAll();
  const leader = await c.leader();
  await leader.produce({ batch: batch("ok"), batchId: randomBytes(16), acks: "all" });
  await c.converge(3n);
  const before = leader.status();

  const corrupt = Buffer.from(batch("bad"));
  corrupt[corrupt.length - 2] ^= 0xff;
  await assert.rejects(leader.produce({ batch: corrupt, batchId: randomBytes(16), acks: "all" }), (e) => code(e) === "CORRUPT_BATCH");
  const truncated = batch("short").subarray(0, 70);
  await assert.rejects(leader.produce({ batch: truncated, batchId: randomBytes(16), acks: "all" }), (e) => code(e) === "CORRUPT_BATCH");
  const two = Buffer.concat([batch("a"), batch("b")]);
  await assert.rejects(leader.produce({ batch: two, batchId: randomBytes(16), acks: "all" }), (e) => code(e) === "CORRUPT_BATCH");
  await assert.rejects(leader.produce({ batch: new Uint8Array(5), batchId: randomBytes(16), acks: "all" }), (e) => code(e) === "CORRUPT_BATCH");
  const big = encodeRecordBatch([{ key: null, value: Buffer.alloc(20_000, 1) }]);
  await assert.rejects(leader.produce({ batch: big, batchId: randomBytes(16), acks: "all" }), (e) => code(e) === "BATCH_TOO_LARGE");
  await assert.rejects(leader.produce({ batch: batch("id"), batchId: randomBytes(8), acks: "all" }), (e) => code(e) === "INVALID_REQUEST");
  const follower = c.live().find((r) => !r.isLeader)!;
  await assert.rejects(follower.produce({ batch: batch("f"), batchId: randomBytes(16), acks: "all" }), (e) => {
    assert.equal(code(e), "NOT_LEADER");
    assert.equal((e as FlotillaError).leader, leader.id, "the error names the leader");
    assert.equal((e as FlotillaError).retriable, true);
    return true;
  });
  await new Promise((r) => setTimeout(r, 50));
  const afterStatus = leader.status();
  assert.equal(afterStatus.lastIndex, before.lastIndex, "no entry was appended");
  assert.equal(afterStatus.logEndOffset, before.logEndOffset);
  assert.equal(follower.status().lastIndex, before.lastIndex);
});

// The polls wait far longer than the test may run: they can only finish by being woken.
test("partition - fetch long-polls until new data arrives and cleans up on timeout", { timeout: 60_000 }, async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  const follower = c.live().find((r) => !r.isLeader)!;
  const onLeader = leader.fetch({ offset: 0n, maxBytes: 1 << 20, maxWaitMs: 10 * 60_000 });
  const onFollower = follower.fetch({ offset: 0n, maxBytes: 1 << 20, maxWaitMs: 10 * 60_000 });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(leader.waitingFetches, 1);
  await leader.produce({ batch: batch("wake"), batchId: randomBytes(16), acks: "none" });
  for (const res of await Promise.all([onLeader, onFollower])) {
    assert.equal(res.highWatermark, 3n);
    assert.deepEqual(records(res.batches).map((r) => r.value), ["wake#0", "wake#1", "wake#2"]);
  }
  // Nothing new: the poll times out empty and leaves no waiter behind.
  const empty = await leader.fetch({ offset: 3n, maxBytes: 1 << 20, maxWaitMs: 80 });
  assert.equal(empty.batches.length, 0);
  assert.equal(empty.highWatermark, 3n);
  assert.equal(leader.waitingFetches, 0);
  // minBytes: waits past a small batch until enough bytes are there.
  const needMore = leader.fetch({ offset: 3n, maxBytes: 1 << 20, maxWaitMs: 3000, minBytes: 150 });
  await leader.produce({ batch: batch("small", 1), batchId: randomBytes(16), acks: "all" });
  await new Promise((r) => setTimeout(r, 30));
  await leader.produce({ batch: batch("more", 3), batchId: randomBytes(16), acks: "all" });
  const got = await needMore;
  assert.deepEqual(records(got.batches).map((r) => r.value), ["small#0", "more#0", "more#1", "more#2"]);
  // Linearizable fetch (ReadIndex round first).
  await c.kill(follower.id);
  const lin = await c.start(follower.id, { linearizableFetch: true });
  await c.converge(7n);
  const res = await lin.fetch({ offset: 0n, maxBytes: 1 << 20, maxWaitMs: 0 });
  assert.equal(records(res.batches).length, 7);
  // The same through a leader that serves read indexes from its lease.
  const leaderId = leader.id;
  await c.kill(leaderId);
  const leased = await c.start(leaderId, { linearizableFetch: true, leaseRead: true });
  await c.converge(7n);
  const current = await c.leader();
  await current.produce({ batch: batch("lease"), batchId: randomBytes(16), acks: "all" });
  for (const r of [leased, current]) {
    const got = await r.fetch({ offset: 7n, maxBytes: 1 << 20, maxWaitMs: 0 });
    assert.deepEqual(records(got.batches).map((x) => x.value), ["lease#0", "lease#1", "lease#2"], `replica ${r.id} reads its own write`);
  }
});

test("partition - leader killed: a new leader serves, acked batches stay once at their offsets, an in-flight retry gets its original offset", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const old = await c.leader();
  const acked = new Map<string, bigint>();
  for (let i = 0; i < 10; i++) {
    const tag = `before-${i}`;
    const { baseOffset } = await old.produce({ batch: batch(tag), batchId: randomBytes(16), acks: i % 2 === 0 ? "all" : "leader" });
    acked.set(tag, baseOffset);
  }
  await c.converge(30n);
  const events: Array<{ on: number; leader: number; isLeader: boolean; term: number }> = [];
  for (const r of c.live()) r.onLeaderChange((e) => events.push({ on: r.id, leader: e.leader, isLeader: e.isLeader, term: e.term }));
  // In flight: appended and replicated, but its producer never got acks=all before the crash.
  const inflightId = randomBytes(16);
  const inflight = batch("inflight");
  const { baseOffset: original } = await old.produce({ batch: inflight, batchId: inflightId, acks: "none" });
  const followers = c.live().filter((r) => r !== old);
  await waitFor("the in-flight batch on a follower", () => followers.some((f) => f.status().logEndOffset > original));
  await c.kill(old.id);

  const fresh = await c.leader(old.id);
  assert.notEqual(fresh.id, old.id);
  assert.ok(fresh.status().term > 1);
  assert.ok(
    events.some((e) => e.on === fresh.id && e.isLeader && e.leader === fresh.id && e.term === fresh.status().term),
    "the new leader announced itself to its subscribers",
  );
  const retry = await fresh.produce({ batch: inflight, batchId: inflightId, acks: "all" });
  assert.equal(retry.baseOffset, original, "the retry gets the original offset");
  for (let i = 0; i < 5; i++) {
    const tag = `after-${i}`;
    const { baseOffset } = await fresh.produce({ batch: batch(tag), batchId: randomBytes(16), acks: "all" });
    acked.set(tag, baseOffset);
  }
  acked.set("inflight", original);
  const end = fresh.status().highWatermark;
  assert.equal(end, 48n, "offsets continue from the log tail: 16 batches of 3, no gap, no duplicate");

  // The old leader comes back from its directory and catches up.
  await c.start(old.id);
  await c.converge(end);
  const all = await Promise.all(c.live().map(fetchAll));
  for (const b of all.slice(1)) assert.deepEqual(Buffer.from(b), Buffer.from(all[0]));
  const recs = records(all[0]);
  const seen = new Map<string, bigint[]>();
  for (const r of recs) {
    const [tag, k] = r.value.split("#");
    if (k === "0") seen.set(tag, [...(seen.get(tag) ?? []), r.offset]);
  }
  for (const [tag, base] of acked) assert.deepEqual(seen.get(tag), [base], `${tag} is there once, at ${base}`);
  assert.equal(seen.size, acked.size);
});

test("partition - a replica restarted from its directory keeps its term and vote, catches up, and its dedup index survives", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  const ids: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push(randomBytes(16));
    await leader.produce({ batch: batch(`a${i}`), batchId: ids[i], acks: "all" });
  }
  await c.converge(15n);
  const follower = c.live().find((r) => !r.isLeader)!;
  const before = follower.status();
  await c.kill(follower.id);
  for (let i = 5; i < 8; i++) {
    ids.push(randomBytes(16));
    await leader.produce({ batch: batch(`a${i}`), batchId: ids[i], acks: "all" });
  }
  const back = await c.start(follower.id);
  const restarted = back.status();
  assert.equal(restarted.term, before.term, "term survives the restart");
  assert.equal(restarted.vote, before.vote, "vote survives the restart");
  assert.equal(restarted.lastIndex, before.lastIndex, "log survives the restart");
  assert.equal(restarted.recovering, false);
  await c.converge(24n);
  assert.deepEqual(Buffer.from(await fetchAll(back)), Buffer.from(await fetchAll(leader)));

  // Every replica restarts; a retried batch id still maps to its original offset, nothing appended.
  for (const id of [...c.brokers.keys()]) {
    await c.replica(id).close();
    c.brokers.get(id)!.replica = undefined;
  }
  await c.startAll();
  const again = await c.leader();
  await c.converge(24n);
  const last = again.status().lastIndex;
  const dup = await again.produce({ batch: batch("a2"), batchId: ids[2], acks: "all" });
  assert.equal(dup.baseOffset, 6n);
  const dupInFlightLeader = await again.produce({ batch: batch("a7"), batchId: ids[7], acks: "leader" });
  assert.equal(dupInFlightLeader.baseOffset, 21n);
  assert.equal(again.status().lastIndex, last, "a duplicate appends nothing");
});

test("partition - a truncated uncommitted entry's produce is rejected, never acknowledged, and its retry lands once", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const old = await c.leader();
  await old.produce({ batch: batch("base"), batchId: randomBytes(16), acks: "all" });
  await c.converge(3n);
  const others = [...c.brokers.keys()].filter((id) => id !== old.id);
  // Cut the leader off: what it appends now can never commit.
  c.faults.partition([old.id], others);
  const lostId = randomBytes(16);
  const lost = old.produce({ batch: batch("lost"), batchId: lostId, acks: "all" });
  const lostLeaderAck = await old.produce({ batch: batch("lost-leader"), batchId: randomBytes(16), acks: "leader" });
  assert.equal(lostLeaderAck.baseOffset, 6n, "acks=leader only promises the leader's disk");
  const outcome = lost.then(
    () => "acknowledged",
    (e: unknown) => code(e),
  );
  const fresh = await c.leader(old.id);
  await fresh.produce({ batch: batch("winner"), batchId: randomBytes(16), acks: "all" });
  c.faults.heal();
  assert.equal(await outcome, "NOT_LEADER", "the truncated entry's produce is rejected");
  await c.converge(6n);
  await waitFor("the old leader to drop its uncommitted tail", () => old.status().logEndOffset === 6n && !old.isLeader);
  // Leadership goes back to the replica that held the truncated attempt (offset 3, now "winner"'s):
  // its dedup index must have forgotten it, so the retry lands fresh, once.
  const current = await c.leader();
  if (current !== old) current.transferLeader(old.id);
  await waitFor("the old leader to lead again", () => old.isLeader);
  const retry = await old.produce({ batch: batch("lost"), batchId: lostId, acks: "all" });
  assert.equal(retry.baseOffset, 6n);
  await c.converge(9n);
  const all = await Promise.all(c.live().map(fetchAll));
  for (const b of all.slice(1)) assert.deepEqual(Buffer.from(b), Buffer.from(all[0]));
  assert.deepEqual(
    records(all[0]).filter((r) => r.value.endsWith("#0")).map((r) => `${r.value.split("#")[0]}@${r.offset}`),
    ["base@0", "winner@3", "lost@6"],
  );
});

test("partition - an idempotent producer's batches land in sequence order, on a new leader and after a restart too", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  const send = (r: PartitionReplica, seq: number, producerId = 77n) =>
    r.produce({ batch: encodeRecordBatch([{ key: null, value: Buffer.from(`s${seq}`) }, { key: null, value: Buffer.from(`s${seq + 1}`) }], { producerId, producerEpoch: 0, baseSequence: seq }), batchId: randomBytes(16), acks: "all" });
  const refused = (p: Promise<unknown>) => p.then(() => "ok", code);
  assert.equal((await send(leader, 0)).baseOffset, 0n);
  const last = leader.status().lastIndex;
  assert.equal(await refused(send(leader, 4)), "OUT_OF_ORDER_SEQUENCE", "sequence 2 has not landed yet");
  assert.equal(leader.status().lastIndex, last, "nothing appended");
  assert.equal(await refused(send(leader, 0)), "DUPLICATE_SEQUENCE");
  assert.equal(await refused(send(leader, 6, 78n)), "UNKNOWN_PRODUCER");
  assert.equal((await send(leader, 2)).baseOffset, 2n);
  assert.equal((await send(leader, 4)).baseOffset, 4n);
  await c.converge(6n);

  // A new leader knows the producer from its own log.
  await c.kill(leader.id);
  const next = await c.leader();
  assert.equal(await refused(send(next, 8)), "OUT_OF_ORDER_SEQUENCE");
  assert.equal((await send(next, 6)).baseOffset, 6n);
  await c.start(leader.id);
  await c.converge(8n);

  // So does every replica after a restart.
  for (const id of [...c.brokers.keys()]) {
    await c.replica(id).close();
    c.brokers.get(id)!.replica = undefined;
  }
  await c.startAll();
  const again = await c.leader();
  assert.equal(await refused(send(again, 10)), "OUT_OF_ORDER_SEQUENCE");
  assert.equal((await send(again, 8)).baseOffset, 8n);
  await c.converge(10n);
  assert.deepEqual(
    records(await fetchAll(again)).map((r) => r.value),
    Array.from({ length: 10 }, (_, i) => `s${i}`),
  );
});

test("partition - a fetch past the high watermark waits while within the log (a new leader's lag), and a cut-off leader never calls it out of range", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  await leader.produce({ batch: batch("base"), batchId: randomBytes(16), acks: "all" });
  await c.converge(3n);
  c.faults.partition([leader.id], [...c.brokers.keys()].filter((id) => id !== leader.id));
  await leader.produce({ batch: batch("uncommitted"), batchId: randomBytes(16), acks: "leader" });
  assert.equal(leader.status().logEndOffset, 6n);
  const waited = await leader.fetch({ offset: 6n, maxBytes: 1 << 20, maxWaitMs: 50 });
  assert.deepEqual({ hw: waited.highWatermark, bytes: waited.batches.length }, { hw: 3n, bytes: 0 });
  // Past its log's end, a leader cut off from its group cannot prove it still leads: retriable.
  await assert.rejects(leader.fetch({ offset: 7n, maxBytes: 1 << 20, maxWaitMs: 0 }), (e: unknown) => code(e) === "TIMEOUT" || code(e) === "NOT_LEADER");
  c.faults.heal();
  const current = await c.leader();
  await c.converge(3n);
  const end = current.status().logEndOffset;
  await assert.rejects(current.fetch({ offset: end + 1n, maxBytes: 1 << 20, maxWaitMs: 0 }), (e: unknown) => code(e) === "OFFSET_OUT_OF_RANGE");
});

/** Three records committed, then a follower killed, its log directory wiped, and restarted. */
async function wipedFollower(t: TestContext) {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  for (let i = 0; i < 3; i++) await leader.produce({ batch: batch(`x${i}`), batchId: randomBytes(16), acks: "all" });
  await c.converge(9n);
  const victim = c.live().find((r) => !r.isLeader)!;
  const termBefore = victim.status().term;
  await c.kill(victim.id);
  rmSync(join(c.brokers.get(victim.id)!.dir, "orders-0"), { recursive: true, force: true });
  const back = await c.start(victim.id);
  assert.equal(back.isRecovering, true, "an empty log with a remembered hard state is a lost disk");
  return { c, leader, back, termBefore };
}

test("partition - a replica whose log was lost does not vote until it has caught up", async (t) => {
  const { c, leader, back, termBefore } = await wipedFollower(t);
  assert.equal(back.status().term, termBefore, "the term in LMDB is kept");
  // Its leader still believes the follower holds what it acknowledged. The next append exposes
  // the loss (a reject below the acknowledged match); the leader hands over to the healthy voter,
  // whose fresh progress probes the recovering replica from scratch.
  await leader.produce({ batch: batch("y"), batchId: randomBytes(16), acks: "all" });
  const fresh = await waitFor("a new leader", () => c.live().find((r) => r.isLeader && r.id !== leader.id));
  assert.notEqual(fresh.id, back.id, "the recovering replica never leads");
  await waitFor("recovery to finish", () => !back.isRecovering);
  assert.ok(back.status().term > termBefore);
  await c.converge(12n);
  assert.equal(records(await fetchAll(back)).length, 12);
});

test("partition - a replica whose log was lost recovers while the partition is idle: no write needed", async (t) => {
  const { c, back } = await wipedFollower(t);
  // Nothing is produced: the leader's heartbeats alone must expose the loss and bring it back.
  await waitFor("recovery to finish", () => !back.isRecovering);
  await c.converge(9n);
  assert.deepEqual(Buffer.from(await fetchAll(back)), Buffer.from(await fetchAll(await c.leader())));
});

test("partition - with its leader down, a healthy replica cannot win with the vote of one that lost its log", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  for (let i = 0; i < 3; i++) await leader.produce({ batch: batch(`z${i}`), batchId: randomBytes(16), acks: "all" });
  await c.converge(9n);
  const [victim, healthy] = c.live().filter((r) => !r.isLeader);
  await c.kill(victim.id);
  rmSync(join(c.brokers.get(victim.id)!.dir, "orders-0"), { recursive: true, force: true });
  const back = await c.start(victim.id);
  assert.equal(back.isRecovering, true);
  const atRestart = back.status();
  await c.kill(leader.id);
  // Several election timeouts: the healthy replica campaigns, the recovering one withholds its vote.
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(c.live().filter((r) => r.isLeader).length, 0, "no leader can be elected without a second real vote");
  assert.ok(healthy.status().term >= atRestart.term, "the healthy replica kept campaigning");
  assert.equal(back.status().term, atRestart.term, "the recovering replica did not even take part in the new terms");
  assert.equal(back.status().vote, atRestart.vote, "the recovering replica granted no vote");
  await c.start(leader.id);
  const fresh = await c.leader();
  assert.notEqual(fresh.id, back.id);
  await fresh.produce({ batch: batch("after"), batchId: randomBytes(16), acks: "all" });
  await c.converge(12n);
  await waitFor("recovery to finish", () => !back.isRecovering);
  assert.deepEqual(Buffer.from(await fetchAll(back)), Buffer.from(await fetchAll(fresh)));
});

test("partition - membership change: a learner catches up, becomes a voter, and the applied membership survives a restart", async (t) => {
  const c = new Cluster(t, { voters: [1, 2, 3] }, [1, 2, 3, 4]);
  for (const id of [1, 2, 3]) await c.start(id);
  const leader = await c.leader();
  for (let i = 0; i < 4; i++) await leader.produce({ batch: batch(`m${i}`), batchId: randomBytes(16), acks: "all" });
  // Broker 4 starts empty, knowing no members, and learns the original voters from entry 1.
  const joining = await c.start(4, { join: true });
  assert.equal(joining.isLeader, false);
  assert.deepEqual(joining.status().voters, []);
  leader.proposeConfChange({ changes: [{ type: ConfChangeType.AddLearner, nodeId: 4 }], transition: "auto" });
  await waitFor("the learner to catch up", () => joining.status().highWatermark === 12n && joining.status().learners.includes(4));
  leader.proposeConfChange({ changes: [{ type: ConfChangeType.AddNode, nodeId: 4 }], transition: "auto" });
  await waitFor("4 to be a voter everywhere", () => c.live().every((r) => r.status().voters.includes(4)));
  await c.kill(4);
  const back = await c.start(4);
  assert.deepEqual(back.status().voters, [1, 2, 3, 4], "the membership comes back from the checkpoint");
  // Four voters: with one original replica down, a commit needs the new voter.
  const down = [1, 2, 3].find((id) => id !== leader.id)!;
  await c.kill(down);
  const { baseOffset } = await leader.produce({ batch: batch("quorum"), batchId: randomBytes(16), acks: "all" });
  assert.equal(baseOffset, 12n);
  await waitFor("the new voter to apply it", () => back.status().highWatermark === 15n);
});

test("partition - a follower further behind than the memory tail catches up from the segment files, across segments and restarts", async (t) => {
  // A tiny tail and tiny segments: everything a lagging follower needs comes from disk.
  const c = new Cluster(t, { maxTailBytes: 512, segmentBytes: 2048, checkpointEveryEntries: 1_000_000 });
  await c.startAll();
  const leader = await c.leader();
  const lagging = c.live().find((r) => !r.isLeader)!;
  await c.kill(lagging.id);
  const expected: string[] = [];
  for (let i = 0; i < 60; i++) {
    const tag = `lag${i}`;
    await leader.produce({ batch: batch(tag, 2), batchId: randomBytes(16), acks: i % 3 === 0 ? "all" : "leader" });
    expected.push(`${tag}#0`, `${tag}#1`);
  }
  await c.converge(120n);
  const segments = (await import("node:fs")).readdirSync(join(c.brokers.get(leader.id)!.dir, "orders-0", "log")).filter((n) => n.endsWith(".log"));
  assert.ok(segments.length > 3, `the log rolled (${segments.length} segments)`);
  const back = await c.start(lagging.id);
  await c.converge(120n);
  // Reads below the tail come from the files; every replica serves the same bytes.
  const all = await Promise.all(c.live().map(fetchAll));
  for (const b of all.slice(1)) assert.deepEqual(Buffer.from(b), Buffer.from(all[0]));
  assert.deepEqual(records(all[0]).map((r) => r.value), expected);
  // Restart everything with a stale applied checkpoint: committed entries are applied again from
  // the files and the high watermark comes back where it was.
  for (const id of [...c.brokers.keys()]) {
    await c.replica(id).close({ abrupt: true });
    c.brokers.get(id)!.replica = undefined;
  }
  await c.startAll();
  await c.leader();
  await c.converge(120n);
  assert.equal(c.replica(back.id).status().highWatermark, 120n);
  const again = await fetchAll(c.live()[0]);
  assert.deepEqual(Buffer.from(again), Buffer.from(all[0]));
});

test("partition - chaos: kills, restarts and partitions under produce load lose no acked batch and duplicate none", async (t) => {
  const c = new Cluster(t, { produceTimeoutMs: 2000 });
  await c.startAll();
  await c.leader();
  const seed = Number(process.env.FLOTILLA_CHAOS_SEED ?? Date.now() % 100000);
  let state = seed;
  const rand = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  const acked = new Map<string, bigint>();
  const attempted = new Set<string>();
  let stop = false;
  let retries = 0;
  const producer = async (p: number): Promise<void> => {
    for (let seq = 0; !stop; seq++) {
      const tag = `p${p}s${seq}`;
      const id = randomBytes(16);
      const body = batch(tag, 1 + (seq % 3));
      attempted.add(tag);
      for (;;) {
        if (stop) return;
        const leader = c.live().find((r) => r.isLeader);
        if (!leader) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        try {
          const { baseOffset } = await leader.produce({ batch: body, batchId: id, acks: "all" });
          acked.set(tag, baseOffset);
          break;
        } catch (err) {
          if (!(err instanceof FlotillaError) || !err.retriable) throw err;
          retries++;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }
  };
  // Lossy, duplicating, reordering links on top of the kills, partitions and transfers.
  c.faults.set({ dropRate: 0.02, duplicateRate: 0.02, delayMs: [0, 4] });
  const producers = [0, 1, 2, 3].map(producer);
  const ids = [...c.brokers.keys()];
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 150 + rand(200)));
    const victim = ids[rand(ids.length)];
    const action = rand(3);
    if (action === 0 && c.brokers.get(victim)!.replica) {
      await c.kill(victim);
      await new Promise((r) => setTimeout(r, rand(250)));
      await c.start(victim);
    } else if (action === 1) {
      c.faults.partition([victim], ids.filter((id) => id !== victim));
      await new Promise((r) => setTimeout(r, 100 + rand(300)));
      c.faults.heal();
    } else {
      const leader = c.live().find((r) => r.isLeader);
      const to = ids[rand(ids.length)];
      if (leader && to !== leader.id) leader.transferLeader(to);
    }
  }
  c.faults.heal();
  c.faults.set({ dropRate: 0, duplicateRate: 0, delayMs: undefined });
  // Let the producers finish what they have in flight on a healthy cluster, then stop them.
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(producers);
  const leader = await c.leader();
  // A final committed write makes every earlier entry committed before the check.
  const marker = await leader.produce({ batch: batch("marker"), batchId: randomBytes(16), acks: "all" });
  await c.converge(marker.baseOffset + 3n);
  const all = await Promise.all(c.live().map(fetchAll));
  for (const b of all.slice(1)) assert.deepEqual(Buffer.from(b), Buffer.from(all[0]), `seed ${seed}: replicas differ`);
  const firsts = new Map<string, bigint[]>();
  const recs = records(all[0]);
  recs.forEach((r, i) => assert.equal(r.offset, BigInt(i), `seed ${seed}: offsets are dense`));
  for (const r of recs) {
    const [tag, k] = r.value.split("#");
    if (k === "0") firsts.set(tag, [...(firsts.get(tag) ?? []), r.offset]);
  }
  for (const [tag, offsets] of firsts) {
    assert.equal(offsets.length, 1, `seed ${seed}: ${tag} landed ${offsets.length} times`);
    assert.ok(attempted.has(tag) || tag === "marker", `seed ${seed}: ${tag} was never produced`);
  }
  for (const [tag, base] of acked) assert.deepEqual(firsts.get(tag), [base], `seed ${seed}: acked ${tag} at ${base}`);
  // Per producer, batches appear in the order they were produced.
  for (const p of [0, 1, 2, 3]) {
    const seqs = recs.filter((r) => r.value.startsWith(`p${p}s`) && r.value.endsWith("#0")).map((r) => Number(r.value.slice(`p${p}s`.length).split("#")[0]));
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `seed ${seed}: producer ${p} order`);
  }
  t.diagnostic(`seed ${seed}: ${acked.size} batches acked, ${retries} retries, ${recs.length} records`);
  assert.ok(acked.size > 50, `seed ${seed}: the cluster made progress (${acked.size} acked)`);
});

test("partition - a leader whose disk fails never acknowledges, stops, and the retry lands once on the new leader", async (t) => {
  const failing = new Set<number>();
  const { writev } = await import("node:fs");
  const c = new Cluster(t);
  for (const id of c.brokers.keys()) {
    await c.start(id, {
      logIo: {
        writev: (fd, buffers, position) =>
          failing.has(id)
            ? Promise.reject(Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" }))
            : new Promise((resolve, reject) => writev(fd, buffers, position, (err, n) => (err ? reject(err) : resolve(n)))),
      },
    });
  }
  const leader = await c.leader();
  await leader.produce({ batch: batch("ok"), batchId: randomBytes(16), acks: "all" });
  failing.add(leader.id);
  const id = randomBytes(16);
  const outcome = await leader.produce({ batch: batch("x"), batchId: id, acks: "all" }).then(
    () => "acknowledged",
    (e: unknown) => code(e),
  );
  assert.equal(outcome, "STORAGE_ERROR", "a write that failed is never acknowledged");
  await assert.rejects(leader.produce({ batch: batch("y"), batchId: randomBytes(16), acks: "all" }), (e) => code(e) === "STORAGE_ERROR");
  const fresh = await waitFor("a new leader", () => c.live().find((r) => r.isLeader && r !== leader));
  // The followers may have committed x already (a majority without the leader): the retry then
  // gets its original offset; if not, it lands now. Either way it is there once.
  const retry = await fresh.produce({ batch: batch("x"), batchId: id, acks: "all" });
  assert.equal(retry.baseOffset, 3n);
  const recs = records(await fetchAll(fresh));
  assert.deepEqual(recs.filter((r) => r.value.endsWith("#0")).map((r) => r.value), ["ok#0", "x#0"]);
});

/** Starts every broker with a disk whose appends can be held (one broker at a time) until released. */
async function startWithHeldWrites(c: Cluster): Promise<{ hold(id: number): void; holding(): number; release(): void }> {
  const { writev } = await import("node:fs");
  let slow = 0;
  const held: Array<() => void> = [];
  for (const id of c.brokers.keys()) {
    await c.start(id, {
      logIo: {
        writev: async (fd, buffers, position) => {
          if (slow === id) await new Promise<void>((resolve) => held.push(resolve));
          return new Promise((resolve, reject) => writev(fd, buffers, position, (err, n) => (err ? reject(err) : resolve(n))));
        },
      },
    });
  }
  return {
    hold: (id) => void (slow = id),
    holding: () => held.length,
    release: () => {
      slow = 0;
      for (const r of held.splice(0)) r();
    },
  };
}

test("partition - a leader whose own write is slow acknowledges acks=all once both followers hold the batch durably, and serves it", { timeout: 20_000 }, async (t) => {
  const c = new Cluster(t);
  const disk = await startWithHeldWrites(c);
  const leader = await c.leader();
  await leader.produce({ batch: batch("before"), batchId: randomBytes(16), acks: "all" });
  disk.hold(leader.id);
  const { baseOffset } = await leader.produce({ batch: batch("slow"), batchId: randomBytes(16), acks: "all" });
  assert.ok(disk.holding() > 0, "the leader's own write of the batch is still held");
  assert.equal(baseOffset, 3n);
  const recs = records((await leader.fetch({ offset: 3n, maxBytes: 1 << 20, maxWaitMs: 0 })).batches);
  assert.deepEqual(recs.map((r) => r.value), ["slow#0", "slow#1", "slow#2"], "committed by the followers: below the high watermark");
  disk.release();
  await leader.produce({ batch: batch("after"), batchId: randomBytes(16), acks: "all" });
  await c.converge(9n);
  const bytes = await Promise.all(c.live().map(fetchAll));
  for (const b of bytes.slice(1)) assert.deepEqual(Buffer.from(b), Buffer.from(bytes[0]), "every replica serves the same bytes");
});

test("partition - the checkpoint never records a membership change that is applied but not yet durable in the replica's own log", { timeout: 20_000 }, async (t) => {
  const c = new Cluster(t);
  const disk = await startWithHeldWrites(c);
  const leader = await c.leader();
  const store = c.brokers.get(leader.id)!.store;
  const learners = (): number[] | undefined => readCheckpoint(store.get(CHECKPOINT_NS, leader.group))?.conf.learners;
  // A new leader takes no membership change before an entry of its term is committed.
  await leader.produce({ batch: batch("first"), batchId: randomBytes(16), acks: "all" });
  disk.hold(leader.id);
  leader.proposeConfChange({ changes: [{ type: ConfChangeType.AddLearner, nodeId: 4 }], transition: "auto" });
  await waitFor("the change to be applied on the leader (committed by the followers)", () => leader.status().learners.includes(4));
  await store.write({}); // LMDB writes are ordered: any checkpoint written on apply is on disk now
  assert.deepEqual(learners(), [], "a crash now would find a log without the change: the checkpoint must not have it");
  disk.release();
  await waitFor("the checkpoint of the change once it is durable", () => learners()?.includes(4));
});

test("partition - the stored commit index never passes the replica's own durable log, and catches up once the log is durable", { timeout: 20_000 }, async (t) => {
  // A checkpoint (with the hard state) on every apply, so applying the held batch writes LMDB at once.
  const c = new Cluster(t, { checkpointEveryEntries: 1 });
  const disk = await startWithHeldWrites(c);
  const leader = await c.leader();
  const store = c.brokers.get(leader.id)!.store;
  await leader.produce({ batch: batch("first"), batchId: randomBytes(16), acks: "leader" });
  const durable = leader.status().lastIndex;
  disk.hold(leader.id);
  try {
    await leader.produce({ batch: batch("slow"), batchId: randomBytes(16), acks: "all" });
    assert.ok(leader.status().commit > durable, "committed by the followers, beyond the leader's own durable log");
    await store.write({}); // LMDB writes are ordered: the checkpoint written on apply is on disk now
    assert.equal(store.hardState(leader.group)?.commit, durable, "a power cut now would find the log ending at the durable index");
  } finally {
    disk.release();
  }
  await waitFor("the stored commit to catch up once the log is durable", () => store.hardState(leader.group)?.commit === leader.status().commit);
});

test("partition - replicas killed with a stale checkpoint and commit index apply their logs again: every acked batch is served once, at its offset", async (t) => {
  const c = new Cluster(t, { checkpointEveryEntries: 1_000_000 });
  await c.startAll();
  const leader = await c.leader();
  for (let i = 0; i < 10; i++) {
    const { baseOffset } = await leader.produce({ batch: batch(`s${i}`), batchId: randomBytes(16), acks: "all" });
    assert.equal(baseOffset, BigInt(3 * i));
  }
  await c.converge(30n);
  const served = Buffer.from(await fetchAll(leader));
  for (const id of [...c.brokers.keys()]) await c.kill(id);
  for (const b of c.brokers.values()) {
    // As if no lazy write of the commit index ever landed: the commit and the checkpoint are
    // those of the bootstrapped membership (entry 1), and the replica's term and vote are kept.
    const hs = b.store.hardState(leader.group)!;
    await b.store.putHardState(leader.group, { ...hs, commit: 1 });
    assert.equal(readCheckpoint(b.store.get(CHECKPOINT_NS, leader.group))?.applied, 1);
  }
  await c.startAll();
  const again = await c.leader();
  await c.converge(30n);
  for (const r of c.live()) assert.deepEqual(Buffer.from(await fetchAll(r)), served, `replica ${r.id} serves the same batches`);
  const { baseOffset } = await again.produce({ batch: batch("after"), batchId: randomBytes(16), acks: "all" });
  assert.equal(baseOffset, 30n);
});

test("partition - a leader hands off leadership before a graceful shutdown; nothing acked is lost", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  for (let i = 0; i < 5; i++) await leader.produce({ batch: batch(`h${i}`), batchId: randomBytes(16), acks: "all" });
  assert.equal(await leader.handOffLeadership(), true);
  assert.equal(leader.isLeader, false);
  const next = await c.leader(leader.id);
  assert.equal(next.status().term, leader.status().term, "the leader it names is current");
  await c.kill(leader.id);
  const { baseOffset } = await next.produce({ batch: batch("after"), batchId: randomBytes(16), acks: "all" });
  assert.equal(baseOffset, 15n);
  assert.deepEqual(records(await fetchAll(next)).map((r) => r.offset), [...Array(18).keys()].map(BigInt));
});

// The read's own timeout is far longer than the test may run: it can only end at the leader change.
test("partition - a pending read index fails fast with NOT_LEADER when the leader changes", { timeout: 60_000 }, async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  const follower = c.live().find((r) => !r.isLeader)!;
  const others = [...c.brokers.keys()].filter((id) => id !== leader.id);
  c.faults.partition([leader.id], others);
  const read = follower.readIndex(10 * 60_000).then(
    () => "served",
    (e: unknown) => code(e),
  );
  await c.leader(leader.id);
  c.faults.heal();
  assert.equal(await read, "NOT_LEADER");
});

test("partition - the dedup window after a restart covers the most recent batches of the log", async (t) => {
  const c = new Cluster(t, { dedupWindow: 4 });
  await c.startAll();
  let leader = await c.leader();
  const ids: Uint8Array[] = [];
  for (let i = 0; i < 8; i++) {
    ids.push(randomBytes(16));
    await leader.produce({ batch: batch(`w${i}`), batchId: ids[i], acks: "all" });
  }
  await c.converge(24n);
  for (const id of [...c.brokers.keys()]) {
    await c.replica(id).close();
    c.brokers.get(id)!.replica = undefined;
  }
  await c.startAll();
  leader = await c.leader();
  await c.converge(24n);
  // The window is counted in log entries (no-ops included), so the newest batches are certainly in.
  const recent = await leader.produce({ batch: batch("w7"), batchId: ids[7], acks: "all" });
  assert.equal(recent.baseOffset, 21n, "a recent batch is still deduplicated after the restart");
  const old = await leader.produce({ batch: batch("w0"), batchId: ids[0], acks: "all" });
  assert.equal(old.baseOffset, 24n, "a batch older than the window is a new batch (the documented limit)");
});

test("partition - a replica that lost both its log and its LMDB state recovers only when told it existed", async (t) => {
  const c = new Cluster(t);
  await c.startAll();
  const leader = await c.leader();
  await leader.produce({ batch: batch("e"), batchId: randomBytes(16), acks: "all" });
  await c.converge(3n);
  const victim = c.live().find((r) => !r.isLeader)!;
  await c.kill(victim.id);
  const b = c.brokers.get(victim.id)!;
  rmSync(join(b.dir, "orders-0"), { recursive: true, force: true });
  await b.store.removeGroup("orders/0");
  await b.store.put("partition-replica", "orders/0", undefined);
  const back = await c.start(victim.id, { expectExisting: true });
  assert.equal(back.isRecovering, true, "nothing on disk, but the caller knows it was a member");
  assert.equal(back.status().term, 0);
  await leader.produce({ batch: batch("f"), batchId: randomBytes(16), acks: "all" });
  await waitFor("recovery to finish", () => !back.isRecovering);
  await c.converge(6n);
  assert.deepEqual(Buffer.from(await fetchAll(back)), Buffer.from(await fetchAll(c.live().find((r) => r.isLeader)!)));
});

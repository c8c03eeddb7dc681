import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { MessageType, emptyMessage, type Message } from "../../protocol/raft.js";
import { prng } from "../../protocol/test-util.js";
import { FaultyTransport, NetworkFaults } from "./faulty-transport.js";
import { InProcessNetwork } from "./in-process-transport.js";
import type { BrokerId } from "./transport.js";

const logger = pino({ level: "silent" });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function heartbeat(from: BrokerId, to: BrokerId, n: number): Message {
  return { ...emptyMessage(MessageType.Heartbeat, `group-${n}`, from, to, 1), commit: n };
}

/** Three brokers on one in-process network behind shared faults; records what each receives. */
function cluster(faults: NetworkFaults) {
  const network = new InProcessNetwork({ logger });
  const ids: BrokerId[] = [1, 2, 3];
  const transports = new Map(ids.map((id) => [id, new FaultyTransport(network.connect(id), faults)]));
  const received = new Map<BrokerId, Array<[BrokerId, number]>>(ids.map((id) => [id, []]));
  for (const [id, t] of transports) t.onMessages((from, messages) => received.get(id)?.push(...messages.map((m): [BrokerId, number] => [from, m.commit])));
  const at = (id: BrokerId): FaultyTransport => {
    const t = transports.get(id);
    if (!t) throw new Error(`no broker ${id}`);
    return t;
  };
  const settle = async (): Promise<void> => {
    await Promise.all([...transports.values()].map((t) => t.flush()));
    await sleep(10);
  };
  const close = (): Promise<unknown> => Promise.all([...transports.values()].map((t) => t.close()));
  return { at, received: (id: BrokerId) => received.get(id) ?? [], settle, close };
}

async function deliveredWithSeed(seed: number): Promise<number[]> {
  const faults = new NetworkFaults(prng(seed));
  faults.set({ dropRate: 0.5 });
  const c = cluster(faults);
  for (let i = 0; i < 200; i++) c.at(1).send(2, heartbeat(1, 2, i));
  await c.settle();
  await c.close();
  return c.received(2).map(([, n]) => n);
}

describe("faults - loss, duplication, delay", () => {
  it("drops reproducibly for a given seed", async () => {
    const a = await deliveredWithSeed(99);
    const b = await deliveredWithSeed(99);
    const other = await deliveredWithSeed(100);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, other);
    assert.ok(a.length > 60 && a.length < 140, `${a.length} of 200 delivered`);
  });

  it("duplicates every message at rate 1", async () => {
    const faults = new NetworkFaults(prng(1));
    faults.set({ duplicateRate: 1 });
    const c = cluster(faults);
    c.at(1).send(2, heartbeat(1, 2, 7));
    c.at(1).send(2, heartbeat(1, 2, 8));
    await c.settle();
    assert.deepEqual(c.received(2).map(([, n]) => n), [7, 7, 8, 8]);
    assert.equal(c.at(1).faultStats().duplicated, 2);
    await c.close();
  });

  it("delays messages within the range given", async () => {
    const faults = new NetworkFaults(prng(1));
    faults.set({ delayMs: [100, 120] });
    const c = cluster(faults);
    c.at(1).send(2, heartbeat(1, 2, 1));
    await c.settle();
    assert.equal(c.received(2).length, 0);
    await sleep(150);
    await c.settle();
    assert.deepEqual(c.received(2), [[1, 1]]);
    assert.equal(c.at(1).faultStats().delayed, 1);
    await c.close();
  });

  it("close cancels delayed messages", async () => {
    const faults = new NetworkFaults(prng(1));
    faults.set({ delayMs: [20, 20] });
    const c = cluster(faults);
    c.at(1).send(2, heartbeat(1, 2, 1));
    await c.at(1).close();
    await sleep(40);
    assert.equal(c.received(2).length, 0);
    await c.close();
  });

  it("refuses settings out of range, reporting all problems", () => {
    const faults = new NetworkFaults();
    assert.throws(() => faults.set({ dropRate: 2, duplicateRate: -1, delayMs: [5, 1] }), (e: Error) => {
      assert.match(e.message, /dropRate/);
      assert.match(e.message, /duplicateRate/);
      assert.match(e.message, /delayMs/);
      return true;
    });
    assert.equal(faults.current.dropRate, 0, "a refused change changes nothing");
  });
});

describe("faults - partitions", () => {
  it("a symmetric partition isolates one side; the other side still talks", async () => {
    const faults = new NetworkFaults();
    const c = cluster(faults);
    faults.partition([1], [2, 3]);
    for (const from of [1, 2, 3]) for (const to of [1, 2, 3]) if (from !== to) c.at(from).send(to, heartbeat(from, to, from * 10 + to));
    await c.settle();
    assert.deepEqual(c.received(1), []);
    assert.deepEqual(c.received(2), [[3, 32]]);
    assert.deepEqual(c.received(3), [[2, 23]]);
    assert.equal(c.at(1).faultStats().partitioned, 2);
    faults.heal();
    c.at(1).send(2, heartbeat(1, 2, 12));
    await c.settle();
    assert.deepEqual(c.received(2), [[3, 32], [1, 12]]);
    await c.close();
  });

  it("a partition also cuts messages already in flight", async () => {
    const faults = new NetworkFaults(prng(3));
    faults.set({ delayMs: [20, 20] });
    const c = cluster(faults);
    c.at(1).send(2, heartbeat(1, 2, 1));
    faults.blockOneWay([1], [2]);
    await sleep(40);
    await c.settle();
    assert.deepEqual(c.received(2), []);
    faults.reset();
    c.at(1).send(2, heartbeat(1, 2, 2));
    await c.settle();
    assert.deepEqual(c.received(2), [[1, 2]]);
    await c.close();
  });

  it("a batch that arrives after a partition started is dropped on receipt", async () => {
    const faults = new NetworkFaults();
    const c = cluster(faults);
    c.at(1).send(2, heartbeat(1, 2, 1));
    c.at(1).send(2, heartbeat(1, 2, 2));
    const flushed = c.at(1).flush(); // the batch leaves now, and arrives on a later turn
    faults.partition([1], [2]);
    await flushed;
    await c.settle();
    assert.deepEqual(c.received(2), []);
    assert.equal(c.at(2).faultStats().partitioned, 2);
    await c.close();
  });
});

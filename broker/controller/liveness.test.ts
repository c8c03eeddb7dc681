import { test } from "node:test";
import assert from "node:assert/strict";
import { BrokerLiveness } from "./liveness.js";
import { TestLog } from "./test-support.js";

const SESSION = 9_000;

test("liveness - a new broker is unfenced once it heartbeats with the metadata caught up to its registration", () => {
  const log = new TestLog();
  log.ok({ type: "registerBroker", brokerId: 1, incarnation: "a", endpoints: [] });
  const epoch = log.image.appliedIndex;
  const live = new BrokerLiveness(SESSION, 0);
  assert.deepEqual(live.decide(log.image, 100), [], "not heard from yet");
  assert.deepEqual(live.heartbeat(log.image, { brokerId: 1, brokerEpoch: epoch, appliedIndex: epoch - 1 }, 200), { type: "accepted", fenced: true });
  assert.deepEqual(live.decide(log.image, 200), [], "still behind its own registration");
  live.heartbeat(log.image, { brokerId: 1, brokerEpoch: epoch, appliedIndex: epoch }, 300);
  const records = live.decide(log.image, 300);
  assert.deepEqual(records, [{ type: "unfenceBroker", brokerId: 1, brokerEpoch: epoch }]);
  log.ok(records[0]);
  assert.deepEqual(live.decide(log.image, 400), []);
});

test("liveness - a broker silent for longer than the session timeout is fenced", () => {
  const log = new TestLog().brokers([1, 2]);
  const live = new BrokerLiveness(SESSION, 0);
  const hb = (id: number, at: number) => live.heartbeat(log.image, { brokerId: id, brokerEpoch: log.image.broker(id)?.epoch as number, appliedIndex: log.image.appliedIndex }, at);
  hb(1, 1000);
  hb(2, 1000);
  hb(1, 9000);
  assert.deepEqual(live.decide(log.image, 10_000), []);
  assert.equal(live.isAlive(log.image, 2, 10_000), true);
  assert.equal(live.isAlive(log.image, 2, 10_001), false);
  assert.deepEqual(live.decide(log.image, 10_001), [{ type: "fenceBroker", brokerId: 2, brokerEpoch: log.image.broker(2)?.epoch }]);
});

test("liveness - a new controller leader gives every broker a full session before fencing it", () => {
  const log = new TestLog().brokers([1, 2, 3]);
  const live = new BrokerLiveness(SESSION, 50_000); // took over at t = 50 s, knows no heartbeats
  assert.deepEqual(live.decide(log.image, 59_000), []);
  assert.equal(live.decide(log.image, 59_001).length, 3);
});

test("liveness - a broker shutting down asks to be fenced, and is not unfenced while it does", () => {
  const log = new TestLog().brokers([1]);
  const live = new BrokerLiveness(SESSION, 0);
  const epoch = log.image.broker(1)?.epoch as number;
  live.heartbeat(log.image, { brokerId: 1, brokerEpoch: epoch, appliedIndex: log.image.appliedIndex, shuttingDown: true }, 10);
  const records = live.decide(log.image, 10);
  assert.deepEqual(records, [{ type: "fenceBroker", brokerId: 1, brokerEpoch: epoch }]);
  log.ok(records[0]);
  live.heartbeat(log.image, { brokerId: 1, brokerEpoch: epoch, appliedIndex: log.image.appliedIndex, shuttingDown: true }, 20);
  assert.deepEqual(live.decide(log.image, 20), []);
});

test("liveness - heartbeats from unknown brokers or old epochs are told to register", () => {
  const log = new TestLog().brokers([1]);
  const live = new BrokerLiveness(SESSION, 0);
  assert.equal(live.heartbeat(log.image, { brokerId: 5, brokerEpoch: 1, appliedIndex: 0 }, 1).type, "register");
  log.ok({ type: "registerBroker", brokerId: 1, incarnation: "restarted", endpoints: [] });
  const reply = live.heartbeat(log.image, { brokerId: 1, brokerEpoch: 1, appliedIndex: 0 }, 1);
  assert.deepEqual(reply, { type: "register", reason: `broker 1 has epoch ${log.image.appliedIndex}, the heartbeat says 1` });
  assert.throws(() => new BrokerLiveness(0, 0), RangeError);
});

test("liveness - after a restart, heartbeats of the old incarnation count for nothing", () => {
  const log = new TestLog().brokers([1]);
  const live = new BrokerLiveness(SESSION, 0);
  const old = log.image.broker(1)?.epoch as number;
  live.heartbeat(log.image, { brokerId: 1, brokerEpoch: old, appliedIndex: log.image.appliedIndex }, 100);
  log.ok({ type: "registerBroker", brokerId: 1, incarnation: "restarted", endpoints: [] });
  assert.deepEqual(live.decide(log.image, 200), [], "fenced by its registration; nothing heard in the new epoch");
  const epoch = log.image.broker(1)?.epoch as number;
  live.heartbeat(log.image, { brokerId: 1, brokerEpoch: epoch, appliedIndex: epoch }, 300);
  assert.deepEqual(live.decide(log.image, 300), [{ type: "unfenceBroker", brokerId: 1, brokerEpoch: epoch }]);
});

test("liveness - a decommissioned broker is never unfenced, however it heartbeats", () => {
  const log = new TestLog().brokers([1]);
  const epoch = log.image.broker(1)!.epoch;
  log.ok({ type: "decommissionBroker", brokerId: 1, brokerEpoch: epoch });
  const live = new BrokerLiveness(SESSION, 0);
  live.heartbeat(log.image, { brokerId: 1, brokerEpoch: epoch, appliedIndex: log.image.appliedIndex }, 100);
  assert.deepEqual(live.decide(log.image, 100), []);
});

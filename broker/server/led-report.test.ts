import assert from "node:assert/strict";
import { test } from "node:test";
import { FlotillaError } from "../../protocol/errors.js";
import { mutate, prng, randInt } from "../../protocol/test-util.js";
import { decodeControllerReply, decodeControllerRequest, encodeControllerMessage, replyChecks, type ControllerRequest, type LedPartition } from "./controller-messages.js";
import { LedReporter, LedReports } from "./led-report.js";

const p = (topic: string, partition: number, term: number, hw: number, isr = [1, 2, 3]): LedPartition => [topic, partition, term, String(hw), "0", isr];

/** What the controller holds for `brokerId`, sorted. */
const held = (reports: LedReports, brokerId: number): LedPartition[] =>
  [...([...reports.entries()].find(([id]) => id === brokerId)?.[1] ?? [])].sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1]);

test("led report - at rest a confirmed report is followed by empty ones, and the controller keeps the whole picture", () => {
  const reporter = new LedReporter();
  const reports = new LedReports();
  const led = [p("t", 0, 1, 10), p("t", 1, 1, 20)];
  const first = reporter.next(led);
  assert.equal(first.ledBase, undefined);
  assert.equal(first.led.length, 2);
  reporter.onReply(reports.apply(1, first));
  const quiet = reporter.next(led.map((x) => [...x] as LedPartition));
  assert.deepEqual(quiet.led, []);
  assert.equal(quiet.ledGone, undefined);
  reporter.onReply(reports.apply(1, quiet));
  assert.deepEqual(held(reports, 1), led);
});

test("led report - changed figures, new and lost leaderships travel as changes and apply on the base", () => {
  const reporter = new LedReporter();
  const reports = new LedReports();
  reporter.onReply(reports.apply(1, reporter.next([p("t", 0, 1, 10), p("t", 1, 1, 20), p("t", 2, 1, 0)])));
  const now = [p("t", 0, 1, 11), p("t", 2, 1, 0, [1, 2]), p("u", 0, 4, 0)];
  const change = reporter.next(now);
  assert.deepEqual(change.led, [p("t", 0, 1, 11), p("t", 2, 1, 0, [1, 2]), p("u", 0, 4, 0)]);
  assert.deepEqual(change.ledGone, [["t", 1]]);
  reporter.onReply(reports.apply(1, change));
  assert.deepEqual(held(reports, 1), now);
});

test("led report - a change report the controller cannot place (new controller, lost reply) leads to a full one", () => {
  const reporter = new LedReporter();
  let reports = new LedReports();
  const led = [p("t", 0, 1, 10)];
  reporter.onReply(reports.apply(1, reporter.next(led)));
  // A new controller leader knows nothing: it refuses the change report, and the next one is full.
  reports = new LedReports();
  const change = reporter.next(led);
  assert.notEqual(change.ledBase, undefined);
  reporter.onReply(reports.apply(1, change));
  assert.deepEqual(held(reports, 1), []);
  const full = reporter.next(led);
  assert.equal(full.ledBase, undefined);
  reporter.onReply(reports.apply(1, full));
  assert.deepEqual(held(reports, 1), led);
  // A heartbeat whose reply is lost may or may not have been applied: the next report is full.
  reports.apply(1, reporter.next([p("t", 0, 2, 10)]));
  reporter.onFailure();
  assert.equal(reporter.next([p("t", 0, 2, 12)]).ledBase, undefined);
  // A change report on a base the controller has moved past is refused, not applied.
  const other = new LedReporter();
  const r1 = other.next(led);
  reports.apply(2, r1);
  other.onReply(r1.ledSeq);
  const r2 = other.next([p("t", 0, 1, 11)]);
  reports.apply(2, r2);
  assert.equal(reports.apply(2, { ...r2, ledSeq: r2.ledSeq! + 1 }), undefined);
});

test("led report - heartbeats with report fields round-trip; bad ones are refused", () => {
  const hb: ControllerRequest = { type: "heartbeat", brokerId: 1, brokerEpoch: 3, appliedIndex: 9, shuttingDown: false, led: [p("t", 0, 2, 5)], ledSeq: 8, ledBase: 7, ledGone: [["t", 1]] };
  assert.deepEqual(decodeControllerRequest(encodeControllerMessage(hb)), hb);
  const reply = decodeControllerReply(encodeControllerMessage({ type: "accepted", fenced: false, ledSeq: 8 }), replyChecks.heartbeat);
  assert.deepEqual(reply, { type: "accepted", fenced: false, moves: [], ledSeq: 8 });
  const refused = (o: object, pattern: RegExp): void =>
    assert.throws(
      () => decodeControllerRequest(encodeControllerMessage({ type: "heartbeat", brokerId: 1, brokerEpoch: 3, appliedIndex: 9, shuttingDown: false, led: [], ...o })),
      (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_REQUEST" && pattern.test(e.message),
    );
  refused({ ledBase: 2 }, /ledBase needs ledSeq/);
  refused({ ledSeq: 3, ledGone: [["t", 0]] }, /ledGone needs ledBase/);
  refused({ ledSeq: 3, ledBase: 2, ledGone: [["t", -1]] }, /ledGone\[0\]/);
  refused({ ledSeq: 0 }, /ledSeq/);
});

test("led report - fuzz: damaged heartbeats and replies fail only with FlotillaError", () => {
  const inputs = [
    encodeControllerMessage({ type: "heartbeat", brokerId: 1, brokerEpoch: 3, appliedIndex: 9, shuttingDown: false, led: [p("t", 0, 2, 5)], ledSeq: 8, ledBase: 7, ledGone: [["t", 1]] }),
    encodeControllerMessage({ type: "accepted", fenced: true, ledSeq: 8, moves: [["t", 0, 2]] }),
  ];
  for (let seed = 1; seed <= 5000; seed++) {
    const rand = prng(seed);
    const input = mutate(rand, inputs[randInt(rand, inputs.length)]);
    try {
      const decoded = decodeControllerRequest(input);
      assert.deepEqual(decodeControllerRequest(encodeControllerMessage(decoded)), decoded, `seed ${seed}`);
    } catch (e) {
      assert.ok(e instanceof FlotillaError, `seed ${seed}: ${String(e)}`);
    }
    try {
      decodeControllerReply(input, replyChecks.heartbeat);
    } catch (e) {
      assert.ok(e instanceof FlotillaError, `seed ${seed}: ${String(e)}`);
    }
  }
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { FlotillaError } from "../../protocol/errors.js";
import { mutate, prng, randInt } from "../../protocol/test-util.js";
import { decodeFaultCommand, decodeFaultReply, encodeFaultMessage, type FaultCommand } from "./fault-control-messages.js";

const COMMANDS: FaultCommand[] = [
  { type: "partition", sides: [[1], [2, 3]] },
  { type: "partition", sides: [[1, 2], [3], [4, 5]] },
  { type: "blockOneWay", from: [2], to: [1, 3] },
  { type: "degrade", dropRate: 0.2, duplicateRate: 0.05, delayMs: [5, 50] },
  { type: "degrade", dropRate: 0, duplicateRate: 0, delayMs: null },
  { type: "reset" },
  { type: "stats" },
];

const refusedWith = (pattern: RegExp) => (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_REQUEST" && pattern.test(e.message);

test("fault-control messages - every command and the reply round-trip", () => {
  for (const c of COMMANDS) assert.deepEqual(decodeFaultCommand(encodeFaultMessage(c)), c);
  const stats = { dropped: 1, partitioned: 2, duplicated: 3, delayed: 4 };
  assert.deepEqual(decodeFaultReply(encodeFaultMessage({ stats })), stats);
  assert.throws(
    () => decodeFaultReply(encodeFaultMessage({ error: new FlotillaError("INVALID_REQUEST", "no").toWire() })),
    (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_REQUEST" && e.message === "no",
  );
});

test("fault-control messages - bad commands are refused with a message that says what is wrong", () => {
  const enc = (o: object): Uint8Array => Buffer.from(JSON.stringify({ v: 1, ...o }));
  assert.throws(() => decodeFaultCommand(Buffer.from([0xff])), refusedWith(/not UTF-8 JSON/));
  assert.throws(() => decodeFaultCommand(Buffer.from("null")), refusedWith(/not a JSON object/));
  assert.throws(() => decodeFaultCommand(Buffer.from(JSON.stringify({ v: 2, type: "reset" }))), (e: unknown) => e instanceof FlotillaError && e.code === "UNSUPPORTED_VERSION");
  assert.throws(() => decodeFaultCommand(enc({ type: "explode" })), refusedWith(/unknown type "explode"/));
  assert.throws(() => decodeFaultCommand(enc({ type: "partition", sides: [[1, 2]] })), refusedWith(/at least two lists/));
  assert.throws(() => decodeFaultCommand(enc({ type: "partition", sides: [[1, 2], [2]] })), refusedWith(/on two sides/));
  assert.throws(() => decodeFaultCommand(enc({ type: "blockOneWay", from: [0], to: [1] })), refusedWith(/from: 0 is not a broker id/));
  assert.throws(() => decodeFaultCommand(enc({ type: "degrade", dropRate: 2, duplicateRate: 0, delayMs: null })), refusedWith(/dropRate must be a number in \[0, 1\]/));
  assert.throws(() => decodeFaultCommand(enc({ type: "degrade", dropRate: 0, duplicateRate: 0, delayMs: [9, 1] })), refusedWith(/delayMs/));
  assert.throws(() => decodeFaultReply(enc({ error: 7 })), refusedWith(/not a wire error/));
  assert.throws(() => decodeFaultReply(enc({ stats: { dropped: -1 } })), refusedWith(/stats.dropped/));
});

test("fault-control messages - fuzz: damaged messages fail only with FlotillaError", () => {
  const inputs = [...COMMANDS.map(encodeFaultMessage), encodeFaultMessage({ stats: { dropped: 1, partitioned: 0, duplicated: 0, delayed: 9 } })];
  for (let seed = 1; seed <= 10_000; seed++) {
    const rand = prng(seed);
    const input = mutate(rand, inputs[randInt(rand, inputs.length)]);
    for (const decode of [decodeFaultCommand, decodeFaultReply]) {
      try {
        const decoded = decode(input);
        if (decode === decodeFaultCommand) assert.deepEqual(decodeFaultCommand(encodeFaultMessage(decoded as FaultCommand)), decoded, `seed ${seed}`);
      } catch (e) {
        assert.ok(e instanceof FlotillaError, `seed ${seed}: ${String(e)}`);
      }
    }
  }
});

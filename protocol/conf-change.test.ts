import { test } from "node:test";
import assert from "node:assert/strict";
import { Encoder } from "@msgpack/msgpack";
import { decodeConfChange, encodeConfChange } from "./conf-change.js";
import { ConfChangeType, type ConfChange } from "./raft.js";
import { DecodeError } from "./decode-error.js";
import { mutate, onlyDecodeErrors, prng, randInt, randomBytes } from "./test-util.js";

const samples: ConfChange[] = [
  { transition: "auto", changes: [{ type: ConfChangeType.AddNode, nodeId: 4 }] },
  { transition: "joint-implicit", changes: [] },
  {
    transition: "joint-explicit",
    changes: [
      { type: ConfChangeType.AddLearner, nodeId: 2 ** 40 },
      { type: ConfChangeType.RemoveNode, nodeId: 1 },
      { type: ConfChangeType.AddNode, nodeId: 300 },
    ],
    context: new Uint8Array([1, 2, 3]),
  },
];

test("conf change - round trip", () => {
  for (const cc of samples) assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
});

test("conf change - wire bytes are [transition, [[type, nodeId]...], context?] as first shipped", () => {
  // The first version encoded with @msgpack/msgpack's Encoder; entries already in logs must still decode.
  const library = new Encoder();
  for (const cc of samples) {
    const body: unknown[] = [["auto", "joint-implicit", "joint-explicit"].indexOf(cc.transition), cc.changes.map((c) => [c.type, c.nodeId])];
    if (cc.context) body.push(cc.context);
    assert.deepEqual(encodeConfChange(cc), library.encode(body));
  }
  assert.deepEqual(encodeConfChange(samples[0]), Uint8Array.from([0x92, 0x00, 0x91, 0x92, 0x00, 0x04]));
});

test("conf change - malformed data gives a DecodeError that says what was wrong", () => {
  const lib = new Encoder();
  const cases: [unknown, RegExp][] = [
    [[3, []], /conf change: transition: 3 is not in \[0, 2\]/],
    [["length", []], /conf change: transition: expected an integer, found a string/],
    [[0, [[9, 1]]], /conf change: change 0: type: unknown change type 9/],
    [[0, [[0, 1], [0, 0]]], /conf change: change 1: node id: 0 is not a node/],
    [[0, [[0, 1.5]]], /change 0: node id: expected an integer, found a float/],
    [[0, [[0]]], /change 0: change: array of 1 elements, expected 2/],
    [[0, [], "ctx"], /context: expected binary data, found a string/],
    [[0], /conf change: body: array of 1 elements, expected 2 to 3/],
    [{ a: 1 }, /body: expected an array, found a map/],
  ];
  for (const [value, re] of cases) {
    assert.throws(() => decodeConfChange(lib.encode(value)), (e: unknown) => e instanceof DecodeError && re.test(e.message), String(re));
  }
  assert.deepEqual(decodeConfChange(lib.encode([0, [], null])), { transition: "auto", changes: [] });
  assert.throws(() => decodeConfChange(new Uint8Array([0x92, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff])), /changes: array of 4294967295 elements/);
  assert.throws(() => encodeConfChange({ transition: "auto", changes: [{ type: ConfChangeType.AddNode, nodeId: -1 }] }), RangeError);
});

test("conf change - fuzz: random and damaged data only ever throws DecodeError", () => {
  const seed = 77;
  const rand = prng(seed);
  const valid = samples.map(encodeConfChange);
  for (let i = 0; i < 20_000; i++) {
    let input: Uint8Array;
    if (i % 10 === 0) input = randomBytes(rand, randInt(rand, 32));
    else {
      input = valid[randInt(rand, valid.length)];
      for (let k = 1 + randInt(rand, 3); k > 0; k--) input = mutate(rand, input);
    }
    let cc: ConfChange | undefined;
    onlyDecodeErrors(() => (cc = decodeConfChange(input)), input, seed);
    if (cc) assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  }
});

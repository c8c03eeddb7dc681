import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "../../protocol/errors.js";
import { checkSequence, type ProducerBatch } from "./producer-sequence.js";

const b = (epoch: number, firstSeq: number, lastSeq = firstSeq): ProducerBatch => ({ producerId: 7n, epoch, firstSeq, lastSeq });

function codeOf(fn: () => void): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return e instanceof FlotillaError ? `${e.code}${e.retriable ? " (retriable)" : ""}` : String(e);
  }
}

test("producer sequence - a producer new to the partition starts at 0; a later sequence waits for its first batch", () => {
  assert.equal(codeOf(() => checkSequence(undefined, b(0, 0, 4))), "ok");
  assert.equal(codeOf(() => checkSequence(undefined, b(0, 5, 9))), "UNKNOWN_PRODUCER (retriable)");
});

test("producer sequence - the next batch follows the last one; a gap is retriable, a repeat is a duplicate", () => {
  const last = b(0, 5, 9);
  assert.equal(codeOf(() => checkSequence(last, b(0, 10, 12))), "ok");
  assert.equal(codeOf(() => checkSequence(last, b(0, 13, 14))), "OUT_OF_ORDER_SEQUENCE (retriable)");
  assert.equal(codeOf(() => checkSequence(last, b(0, 5, 9))), "DUPLICATE_SEQUENCE");
  assert.equal(codeOf(() => checkSequence(last, b(0, 0, 4))), "DUPLICATE_SEQUENCE");
});

test("producer sequence - sequences wrap after 2^31 - 1", () => {
  const max = 2 ** 31 - 1;
  assert.equal(codeOf(() => checkSequence(b(0, max - 2, max), b(0, 0, 3))), "ok");
  assert.equal(codeOf(() => checkSequence(b(0, max - 2, max), b(0, 1, 3))), "OUT_OF_ORDER_SEQUENCE (retriable)");
  assert.equal(codeOf(() => checkSequence(b(0, 0, 3), b(0, max, max))), "DUPLICATE_SEQUENCE");
});

test("producer sequence - a higher epoch starts over at 0; a batch of an older epoch is refused", () => {
  const last = b(1, 40, 41);
  assert.equal(codeOf(() => checkSequence(last, b(2, 0, 3))), "ok");
  assert.equal(codeOf(() => checkSequence(last, b(2, 42, 43))), "OUT_OF_ORDER_SEQUENCE (retriable)");
  assert.equal(codeOf(() => checkSequence(last, b(0, 42, 43))), "OUT_OF_ORDER_SEQUENCE (retriable)");
});

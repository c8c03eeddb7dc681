import { test } from "node:test";
import assert from "node:assert/strict";
import { DedupIndex } from "./dedup-index.js";

function id(n: number): Uint8Array {
  const b = new Uint8Array(16);
  b[15] = n;
  return b;
}

test("dedup index - remembers the last `window` batches, forgets truncated ones", () => {
  const d = new DedupIndex(3);
  for (let i = 1; i <= 5; i++) d.add(id(i), { index: i + 1, term: 1, baseOffset: i * 10, nextOffset: i * 10 + 10 });
  assert.equal(d.lookup(id(1)), undefined, "evicted by the window");
  assert.equal(d.lookup(id(2)), undefined);
  assert.equal(d.lookup(id(3))?.baseOffset, 30);
  assert.equal(d.size, 3);
  // The same entry seen again (leader at propose time, then in the Ready) is not added twice.
  d.add(id(5), { index: 6, term: 1, baseOffset: 50, nextOffset: 60 });
  assert.equal(d.size, 3);
  d.truncateFrom(5);
  assert.equal(d.lookup(id(4)), undefined, "truncated");
  assert.equal(d.lookup(id(5)), undefined);
  assert.equal(d.lookup(id(3))?.index, 4);
  // A new leader's entry at a truncated index replaces what was there.
  d.add(id(9), { index: 5, term: 2, baseOffset: 40, nextOffset: 41 });
  d.add(id(4), { index: 4, term: 2, baseOffset: 30, nextOffset: 31 });
  assert.equal(d.lookup(id(9)), undefined, "an append at index 4 truncates index 5 on");
  assert.equal(d.lookup(id(3)), undefined, "and index 4 itself");
  assert.equal(d.lookup(id(4))?.term, 2);
});

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

test("dedup index - a producer's last batch follows appends, truncations and the window", () => {
  const d = new DedupIndex(3);
  const p = (firstSeq: number, producerId = 1n) => ({ producerId, epoch: 0, firstSeq, lastSeq: firstSeq + 1 });
  d.add(id(1), { index: 1, term: 1, baseOffset: 0, nextOffset: 2, producer: p(0) });
  d.add(id(2), { index: 2, term: 1, baseOffset: 2, nextOffset: 4, producer: p(0, 2n) });
  d.add(id(3), { index: 3, term: 1, baseOffset: 4, nextOffset: 6, producer: p(2) });
  assert.equal(d.lastOfProducer(1n)?.firstSeq, 2);
  assert.equal(d.producers, 2);
  d.truncateFrom(3);
  assert.equal(d.lastOfProducer(1n)?.firstSeq, 0, "the truncated batch's predecessor is the last again");
  d.add(id(4), { index: 3, term: 2, baseOffset: 4, nextOffset: 6, producer: p(2) });
  d.add(id(5), { index: 4, term: 2, baseOffset: 6, nextOffset: 8 });
  d.add(id(6), { index: 5, term: 2, baseOffset: 8, nextOffset: 10 });
  assert.equal(d.lastOfProducer(2n), undefined, "a producer whose batches left the window is forgotten");
  assert.equal(d.lastOfProducer(1n)?.firstSeq, 2);
  d.add(id(7), { index: 6, term: 2, baseOffset: 10, nextOffset: 12 });
  assert.equal(d.lastOfProducer(1n), undefined);
  assert.equal(d.producers, 0);
});

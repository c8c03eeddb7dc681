import assert from "node:assert/strict";
import { test } from "node:test";
import { History, type FinalRead } from "./history.js";

const log = (...values: string[]): FinalRead => ({
  logStartOffset: 0n,
  highWatermark: BigInt(values.length),
  records: values.map((value, i) => ({ offset: BigInt(i), value })),
});

test("chaos history - a clean run counts nothing", () => {
  const h = new History();
  h.ack("a", 0, 0n);
  h.ack("b", 0, 1n);
  h.ack("c", 1, 0n);
  h.observe(0, 0n, "a", "reader 1");
  h.readerMoved(0, 1n, 1n, "reader 1");
  const r = h.check(new Map([[0, log("a", "b", "unacked")], [1, log("c")]]));
  assert.deepEqual({ ...r, examples: r.examples.length }, { read: 4, lost: 0, misplaced: 0, duplicated: 0, divergent: 0, skipped: 0, groupSkipped: 0, examples: 0 });
});

test("chaos history - an acknowledged value missing from the final log is lost, one elsewhere is misplaced", () => {
  const h = new History();
  h.ack("a", 0, 0n);
  h.ack("b", 0, 1n);
  h.ack("c", 0, 2n);
  const r = h.check(new Map([[0, log("a", "c")]]));
  assert.equal(r.lost, 1);
  assert.equal(r.misplaced, 1);
  assert.match(r.examples.join("\n"), /lost: b, acknowledged at 0\/1/);
  assert.match(r.examples.join("\n"), /misplaced: c, acknowledged at 0\/2, found at 0\/1/);
});

test("chaos history - a value in the log twice counts its extra copies, across partitions too", () => {
  const h = new History();
  const r = h.check(new Map([[0, log("a", "a", "a", "b")], [1, log("b")]]));
  assert.equal(r.duplicated, 3);
});

test("chaos history - two reads of one offset with different values diverge, counted once per offset", () => {
  const h = new History();
  h.observe(0, 5n, "x", "reader 1");
  h.observe(0, 5n, "y", "reader 2");
  h.observe(0, 5n, "z", "reader 3");
  h.observe(1, 0n, "stale", "reader 1");
  const r = h.check(new Map([[0, { logStartOffset: 5n, highWatermark: 6n, records: [{ offset: 5n, value: "x" }] }], [1, log("fresh")]]));
  assert.equal(r.divergent, 2);
  assert.match(r.examples.join("\n"), /partition 1 offset 0 read as stale and, by the final read, as fresh/);
});

test("chaos history - readers jumping ahead and holes in the final log count as skipped", () => {
  const h = new History();
  h.readerMoved(0, 3n, 7n, "reader 1");
  const holes: FinalRead = { logStartOffset: 0n, highWatermark: 6n, records: [{ offset: 0n, value: "a" }, { offset: 2n, value: "b" }] };
  const r = h.check(new Map([[0, holes]]));
  // 4 jumped by the reader, offset 1 missing, offsets 3..5 missing below the high watermark.
  assert.equal(r.skipped, 4 + 1 + 3);
  h.groupSkipped(2, "partition 0 offsets 8-9");
  assert.equal(h.check(new Map()).groupSkipped, 2);
});

test("chaos history - final reads through different leaders must end at the same high watermark", () => {
  const h = new History();
  h.observeFinal(0, log("a", "b", "c"), 1);
  h.observeFinal(0, log("a", "b", "c"), 2);
  assert.equal(h.check(new Map([[0, log("a", "b", "c")]])).divergent, 0);
  h.observeFinal(0, log("a"), 3);
  const r = h.check(new Map([[0, log("a", "b", "c")]]));
  assert.equal(r.divergent, 2);
  assert.match(r.examples.join("\n"), /read to 3 led by broker 1, to 1 led by broker 3/);
});

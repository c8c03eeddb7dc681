/** Bench - percentiles, the latency recorder, the timeline and the log histogram. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LatencyRecorder, Timeline, logHistogram, percentile } from "./latency.js";

test("latency - percentile is nearest rank over sorted samples", () => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(sorted, 0.5), 50);
  assert.equal(percentile(sorted, 0.99), 99);
  assert.equal(percentile(sorted, 0.999), 100);
  assert.equal(percentile(sorted, 1), 100);
  assert.equal(percentile(sorted, 0.001), 1);
  assert.equal(percentile(new Float64Array(0), 0.5), 0);
  assert.equal(percentile(Float64Array.of(7), 0.99), 7);
});

test("latency - the recorder keeps every sample, grows past its first buffer and sorts numerically", () => {
  const r = new LatencyRecorder();
  for (let i = 5000; i >= 1; i--) r.record(i / 10); // 500.0 down to 0.1: numeric, not lexical, order matters
  assert.equal(r.count, 5000);
  assert.equal(r.percentile(0.5), 250);
  assert.equal(r.percentile(1), 500);
  assert.equal(r.ascending()[0], 0.1);
  r.recordMany(1000, 5000); // half the samples now at 1000 ms
  assert.equal(r.count, 10_000);
  assert.equal(r.percentile(0.5), 500);
  assert.equal(r.percentile(0.51), 1000);
});

test("latency - the timeline counts records per bin from its start and gives rates per second", () => {
  const t = new Timeline(1000, 250);
  t.add(1000, 10);
  t.add(1249.9, 5);
  t.add(1250, 1);
  t.add(2000, 2); // bin 4; bins 2 and 3 stay empty
  t.add(900, 1); // before the start: counted in the first bin
  assert.deepEqual(t.counts, [16, 1, 0, 0, 2]);
  assert.deepEqual(t.ratePerSec(), [64, 4, 0, 0, 8]);
});

test("latency - the log histogram puts each sample in the bucket whose bound is the first at or above it", () => {
  const sorted = Float64Array.of(0.001, 0.5, 1, 1, 1.05, 30, 30);
  const buckets = logHistogram(sorted, 10);
  assert.equal(buckets.reduce((n, b) => n + b.count, 0), sorted.length);
  // Bounds rise by 10^(1/10) each step, from 0.01 ms (which also holds the sample below it).
  assert.ok(Math.abs(buckets[0].upToMs - 0.01) < 1e-12);
  for (let i = 1; i < buckets.length; i++) assert.ok(Math.abs(buckets[i].upToMs / buckets[i - 1].upToMs - 10 ** 0.1) < 1e-9);
  const at = (ms: number): number => buckets.find((b) => Math.abs(b.upToMs - ms) < 1e-9)!.count;
  assert.equal(at(0.01), 1);
  assert.equal(at(1), 2); // exactly on a bound: that bucket
  assert.equal(at(10 ** 0.1), 1); // 1.05 goes to the next one
  assert.equal(buckets[buckets.length - 1].count, 2); // 30 ms: the last bucket
  assert.ok(buckets[buckets.length - 1].upToMs >= 30);
  assert.deepEqual(logHistogram(new Float64Array(0)), []);
});

/** Bench - the HTML report: self-contained, both systems drawn, figures and text escaped. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LatencyRecorder, Timeline } from "./latency.js";
import { escapeHtml, niceCeiling, renderReport } from "./report.js";
import type { WorkloadRun } from "./cluster-workloads.js";
import type { SystemName } from "./bench-system.js";

function run(system: SystemName, p99: number): WorkloadRun {
  const latency = new LatencyRecorder();
  for (let i = 1; i <= 100; i++) latency.record(i === 100 ? p99 : i / 10);
  const timeline = new Timeline(0, 250);
  for (let i = 0; i < 8; i++) timeline.add(i * 250, 1000 + i);
  const summary = {
    workload: "produce" as const, system, records: 100, size: 1024, partitions: 1, replicationFactor: 3, acks: "all", producers: 1, rate: null,
    seconds: 2, recordsPerSec: 4000, mbPerSec: 4.1, p50Ms: 5, p90Ms: 9, p99Ms: p99, p999Ms: p99, maxMs: p99, serverCpuUsPerRecord: 50, clientCpuUsPerRecord: 10,
  };
  return { summary, latency, timeline };
}

test("report - one page with both systems' throughput and latency charts and their percentiles", () => {
  const html = renderReport({ title: "Flotilla vs <JetStream>", command: "bench compare --records 100 --size 1024", runs: [run("flotilla", 12.5), run("jetstream", 87.25)] });
  assert.match(html, /^<!doctype html>/);
  assert.equal((html.match(/<svg /g) ?? []).length, 2);
  assert.equal((html.match(/<polyline /g) ?? []).length, 4); // two series in each chart
  for (const name of ["flotilla produce", "jetstream produce"]) assert.ok(html.includes(`<title>${name}</title>`), name);
  assert.ok(html.includes("<td>12.5</td>") && html.includes("<td>87.25</td>"));
  assert.ok(html.includes("Flotilla vs &#60;JetStream&#62;"));
  assert.ok(html.includes("bench compare --records 100 --size 1024"));
  // Self-contained: no scripts, no links or sources to fetch (the SVG namespace is an identifier, not a fetch).
  assert.doesNotMatch(html, /<script|<link|src=|href=|url\(/i);
});

test("report - escapes markup and picks round axis maxima", () => {
  assert.equal(escapeHtml(`<a href="x">&'`), "&#60;a href=&#34;x&#34;&#62;&#38;&#39;");
  assert.equal(niceCeiling(0), 1);
  assert.equal(niceCeiling(3), 5);
  assert.equal(niceCeiling(5), 5);
  assert.equal(niceCeiling(23_000), 50_000);
  assert.equal(niceCeiling(0.7), 1);
  assert.equal(niceCeiling(101), 200);
});

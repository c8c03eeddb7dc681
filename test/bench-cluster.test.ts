/**
 * Bench - the cluster workloads end to end with tiny record counts: real `flotilla dev` brokers, a
 * real 3-node JetStream cluster, one JSON line with the promised fields, and the HTML report.
 * Figures are not checked (tests never assert timings), only that they are there and consistent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./log-fixtures.js";

const cli = fileURLToPath(new URL("../bench/cli.js", import.meta.url));
const FIELDS = ["workload", "records", "size", "recordsPerSec", "mbPerSec", "p50Ms", "p99Ms", "p999Ms"];

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

function oneJsonLine(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 1, stdout);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

function checkSummary(s: Record<string, unknown>, workload: string, system: string, records: number): void {
  for (const key of FIELDS) assert.equal(typeof s[key], key === "workload" ? "string" : "number", `${system} ${key}`);
  assert.equal(s.workload, workload);
  assert.equal(s.system, system);
  assert.equal(s.records, records);
  assert.equal(s.size, 256);
  assert.ok((s.recordsPerSec as number) > 0);
  assert.ok((s.p50Ms as number) <= (s.p99Ms as number) && (s.p99Ms as number) <= (s.p999Ms as number));
}

test("bench - consume fills a fresh Flotilla topic and reads every record back", { timeout: 120_000 }, async () => {
  const r = await bench(["consume", "--records", "400", "--size", "256", "--partitions", "2", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  checkSummary(oneJsonLine(r.stdout), "consume", "flotilla", 400);
});

test("bench - compare runs e2e on Flotilla and JetStream, prints both and the ratio, and writes the report", { timeout: 180_000 }, async (t) => {
  const report = join(tempDir(t, "flotilla-bench-report-"), "report.html");
  const r = await bench(["compare", "--workload", "e2e", "--records", "300", "--size", "256", "--rate", "1000", "--json", "--report", report]);
  assert.equal(r.code, 0, r.stderr);
  const result = oneJsonLine(r.stdout);
  assert.equal(result.workload, "compare");
  checkSummary(result.flotilla as Record<string, unknown>, "e2e", "flotilla", 300);
  checkSummary(result.jetstream as Record<string, unknown>, "e2e", "jetstream", 300);
  const ratio = result.ratio as Record<string, number>;
  const f = result.flotilla as Record<string, number>;
  const j = result.jetstream as Record<string, number>;
  assert.equal(ratio.recordsPerSec, Number((f.recordsPerSec / j.recordsPerSec).toFixed(2)));
  assert.equal(ratio.p99Ms, Number((f.p99Ms / j.p99Ms).toFixed(2)));
  const html = await readFile(report, "utf8");
  assert.ok(html.includes("<title>flotilla e2e</title>") && html.includes("<title>jetstream e2e</title>"));
});

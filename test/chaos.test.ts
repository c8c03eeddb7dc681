/**
 * Chaos - a short run of the fault suite (`npm run chaos`): three broker processes on a real
 * nats-server, producers and readers throughout, a fixed seed's faults (kill -9, pause, network
 * partitions, message loss). Every acknowledged record must be in the log once, at its offset,
 * and every reader must have seen the same history. Longer runs: `npm run chaos -- --minutes 10`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { it } from "node:test";

const CLI = fileURLToPath(new URL("./chaos/cli.js", import.meta.url));

it("chaos - a fixed seed's faults lose, duplicate and reorder nothing", { timeout: 240_000 }, async () => {
  const child = spawn(process.execPath, [CLI, "--minutes", "0.6", "--seed", "7", "--brokers", "3", "--partitions", "3", "--producers", "2", "--log-level", "warn"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let progress = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (progress += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) process.stderr.write(progress);
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 1, `one JSON line on stdout, got: ${stdout}`);
  const report = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.equal(report.error, undefined, `the run reached a verdict: ${String(report.error)}`);
  assert.ok((report.faultCount as number) >= 5, `faults were injected: ${JSON.stringify(report.faults)}`);
  assert.ok((report.acked as number) > 0 && (report.read as number) >= (report.acked as number), "records were acknowledged and read back");
  for (const k of ["lost", "misplaced", "duplicated", "divergent", "skipped", "groupSkipped", "crashes"]) assert.equal(report[k], 0, `${k}: ${JSON.stringify(report.examples)}`);
  assert.equal(code, 0);
});

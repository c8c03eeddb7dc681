/** Bench - CPU time of processes from /proc/<pid>/stat. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpuSecondsFromStat, processCpuSeconds, totalCpuSeconds } from "./process-cpu.js";

test("process cpu - utime + stime of a stat line, even when the command name holds spaces and parentheses", () => {
  const line = "4242 (node (x) y) S 1 4242 1 0 -1 4194560 2000 0 0 0 1234 567 0 0 20 0 11 0 900 1000 200 18446744073709551615";
  assert.equal(cpuSecondsFromStat(line), 18.01);
  assert.equal(cpuSecondsFromStat("garbage"), undefined);
});

test("process cpu - this process's figure grows with work, and an unknown pid gives undefined", { skip: process.platform !== "linux" }, () => {
  const before = processCpuSeconds(process.pid)!;
  const giveUp = Date.now() + 30_000;
  while (processCpuSeconds(process.pid) === before && Date.now() < giveUp) {
    // Burn CPU until the figure moves by a clock tick (soon, however busy the machine).
  }
  assert.ok(processCpuSeconds(process.pid)! > before);
  assert.equal(processCpuSeconds(2 ** 22 + 1), undefined); // above Linux's pid_max
  assert.equal(totalCpuSeconds([process.pid, 2 ** 22 + 1]), undefined);
});

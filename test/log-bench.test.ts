/** Bench - `bench log --json` runs end to end and prints one JSON line with every promised field. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { tempDir } from "./log-fixtures.js";

const cli = fileURLToPath(new URL("../bench/cli.js", import.meta.url));

test("bench - log workload prints one JSON line with its figures", (t) => {
  const dir = tempDir(t, "flotilla-bench-test-");
  for (const extra of [[], ["--rate", "20"]]) {
    const r = spawnSync(process.execPath, [cli, "log", "--json", "--seconds", "0.3", "--batch-kib", "64", "--dir", dir, ...extra], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const result = JSON.parse(lines[0]) as Record<string, unknown>;
    for (const key of ["workload", "records", "size", "recordsPerSec", "mbPerSec", "appendsPerSec", "fsyncsPerSec", "p50Ms", "p99Ms", "p999Ms", "rawMbPerSec"]) {
      assert.ok(key in result, `missing ${key}`);
    }
    assert.equal(result.workload, "log");
    assert.equal(result.size, 1024);
    assert.ok((result.records as number) > 0);
  }
});

test("bench - an unknown workload or option is refused with a message", () => {
  const unknown = spawnSync(process.execPath, [cli, "nope"], { encoding: "utf8" });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /usage: bench <workload>/);
  const badOption = spawnSync(process.execPath, [cli, "log", "--seconds", "-1", "--frobnicate"], { encoding: "utf8" });
  assert.equal(badOption.status, 1);
  assert.match(badOption.stderr, /--seconds needs a positive number.*unknown option --frobnicate/);
});

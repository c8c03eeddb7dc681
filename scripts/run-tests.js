#!/usr/bin/env node
// Runs every compiled *.test.js under dist/ with Node's built-in test runner.
// Node 20's `--test` does not expand globs, so the file list is built here.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function find(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const files = find("dist", []).sort();
const filter = process.argv[2];
const chosen = filter ? files.filter((f) => f.includes(filter)) : files;
if (chosen.length === 0) {
  console.error(`no test files${filter ? ` matching ${filter}` : ""} under dist/`);
  process.exit(1);
}
// A test that fails while a consumer or a connection is still running would keep its file's
// process alive forever and hang CI: the runner exits once the tests are done, and no single test
// may take more than 7 minutes (the slowest, the chaos run, takes about one).
const TEST_TIMEOUT_MS = 420_000;
const r = spawnSync(process.execPath, ["--test", "--test-reporter=spec", "--test-force-exit", `--test-timeout=${TEST_TIMEOUT_MS}`, ...chosen], { stdio: "inherit" });
process.exit(r.status ?? 1);

/** Bench - CPU profile summaries: busy time without idle, self and inclusive shares. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { summarizeProfile, summarizeProfiles, type CpuProfile } from "./cpu-profile.js";

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });

// (root) → handle (ours) → write (node_modules) ; (root) → (idle) ; (root) → (garbage collector)
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 4, 5] },
    { id: 2, callFrame: frame("handle", "file:///x/dist/broker/a.js", 9), children: [3] },
    { id: 3, callFrame: frame("write", "file:///x/node_modules/nats/b.js", 0) },
    { id: 4, callFrame: frame("(idle)") },
    { id: 5, callFrame: frame("(garbage collector)") },
  ],
  samples: [2, 3, 3, 4, 5, 3, 4],
  timeDeltas: [100_000, 200_000, 200_000, 5_000_000, 100_000, 400_000, 5_000_000],
};

test("cpu profile - busy time leaves idle out; self and inclusive shares are of busy time", () => {
  const s = summarizeProfile("p", profile);
  assert.equal(s.busySeconds, 1); // 0.1 + 0.8 + 0.1 s
  assert.deepEqual(s.self, [
    { fn: "write node_modules/nats/b.js:1", percent: 80 },
    { fn: "handle dist/broker/a.js:10", percent: 10 },
    { fn: "(garbage collector)", percent: 10 },
  ]);
  assert.deepEqual(s.inclusive, [{ fn: "handle dist/broker/a.js:10", percent: 90 }]);
  assert.equal(summarizeProfile("p", profile, 1).self.length, 1);
});

test("cpu profile - a directory's main-thread profiles are summarized, worker threads' left out", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-prof-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "CPU.20260101.120000.42.0.001.cpuprofile"), JSON.stringify(profile));
  writeFileSync(join(dir, "CPU.20260101.120000.42.1.002.cpuprofile"), JSON.stringify(profile));
  writeFileSync(join(dir, "notes.txt"), "not a profile");
  const all = summarizeProfiles(dir);
  assert.deepEqual(all.map((s) => s.file), ["CPU.20260101.120000.42.0.001.cpuprofile"]);
});

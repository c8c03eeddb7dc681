/**
 * DESIGN.md's layout table as a test: each folder imports only the folders the table allows, so a
 * shortcut (the client reaching into the broker, the Raft core doing I/O through the log) fails here
 * instead of in review.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Folder → the folders of ours it may import (itself always allowed). Longest prefix wins. */
const ALLOWED: Record<string, readonly string[]> = {
  "protocol/": [],
  "broker/raft/": ["protocol/"],
  "broker/log/": ["protocol/"],
  "broker/sim/": ["broker/raft/", "protocol/"],
  "broker/": ["broker/", "protocol/"],
  "client/": ["protocol/"],
  "bench/": ["client/", "protocol/"],
  "ops/": ["client/", "broker/", "protocol/", "testing/"],
  "testing/": ["client/", "broker/", "protocol/"],
};

/** Files with a reason to reach further than their folder may. */
const EXCEPTIONS: Record<string, readonly string[]> = {
  // `npm run bench -- log` measures the storage engine alone, below any broker.
  "bench/log-bench.ts": ["broker/log/"],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts") ? [path] : [];
  });
}

function ownerOf(path: string): string | undefined {
  return Object.keys(ALLOWED)
    .filter((folder) => path.startsWith(folder))
    .sort((a, b) => b.length - a.length)[0];
}

const importPattern = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|(?:^|\n)\s*import\s+"(\.[^"]+)"|import\("(\.[^"]+)"\)/g;

test("layout - every folder imports only what DESIGN.md's layout table allows", () => {
  const violations: string[] = [];
  let checked = 0;
  for (const top of ["protocol", "broker", "client", "bench", "ops", "testing"]) {
    for (const file of sourceFiles(top)) {
      const owner = ownerOf(file)!;
      const text = readFileSync(join(root, file), "utf8");
      for (const m of text.matchAll(importPattern)) {
        const target = relative(root, resolve(root, dirname(file), m[1] ?? m[2] ?? m[3])) + "/";
        const targetOwner = ownerOf(target);
        checked++;
        if (targetOwner === undefined || targetOwner === owner) continue;
        const allowed = [...ALLOWED[owner], ...(EXCEPTIONS[file] ?? [])].some((folder) => target.startsWith(folder));
        if (!allowed) violations.push(`${file} imports ${m[1] ?? m[2] ?? m[3]}`);
      }
    }
  }
  assert.ok(checked > 100, `only ${checked} imports found: the import pattern is broken`);
  assert.deepEqual(violations, []);
});

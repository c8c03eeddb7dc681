#!/usr/bin/env node
// Adds lock entries for optional platform packages that this machine's registry does not serve,
// so that `npm ci` finds the lock file complete (they are skipped on other platforms anyway).
import { readFileSync, writeFileSync } from "node:fs";
const file = process.argv[2] ?? "package-lock.json";
const lock = JSON.parse(readFileSync(file, "utf8"));
const pkgs = lock.packages;
let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [name, range] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (pkgs[key] || pkgs[`${path}/node_modules/${name}`]) continue;
    const m = /-(darwin|linux|win32|freebsd|android)-(arm64|x64|arm|ia32)(-gnu|-musl|-msvc)?$/.exec(name);
    if (!m) { console.error("cannot infer platform of", name); process.exit(1); }
    pkgs[key] = { version: range.replace(/^[\^~]/, ""), cpu: [m[2]], os: [m[1]], optional: true };
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(pkgs).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))));
lock.packages = sorted;
writeFileSync(file, JSON.stringify(lock, null, 2) + "\n");
console.log("added", added);

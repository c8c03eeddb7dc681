/**
 * Storage - LMDB state under SIGKILL: every hard state whose write resolved is still there after a
 * kill, and records written in one transaction stay consistent with each other.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { StateStore } from "../broker/state/state-store.js";
import { tempDir } from "./log-fixtures.js";

const child = fileURLToPath(new URL("./log-state-child.js", import.meta.url));

/** Runs the child and kills it `delayMs` after its first resolved write; returns the last term it saw resolve. */
function runAndKill(path: string, delayMs: number): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [child, path], { stdio: ["ignore", "pipe", "inherit"] });
    let flushed = 0;
    let pending = "";
    let timer: NodeJS.Timeout | undefined;
    const fallback = setTimeout(() => p.kill("SIGKILL"), 15_000);
    p.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const l of lines) if (l.startsWith("flushed ")) flushed = Math.max(flushed, Number(l.slice(8)));
      if (flushed > 0) timer ??= setTimeout(() => p.kill("SIGKILL"), delayMs);
    });
    p.on("exit", () => {
      clearTimeout(timer);
      clearTimeout(fallback);
      resolve(flushed);
    });
  });
}

test("storage - LMDB hard state survives SIGKILL once its write resolved", async (t) => {
  const path = tempDir(t, "flotilla-state-crash-");
  let acked = 0;
  for (let round = 0; round < 4; round++) {
    acked = Math.max(acked, await runAndKill(path, round * 37));
    const store = StateStore.open({ path });
    const hs = store.hardState("g");
    const term = hs?.term ?? 0;
    assert.ok(term >= acked, `round ${round}: acknowledged term ${acked}, found ${term}`);
    if (hs) assert.deepEqual(hs, { term, vote: term % 3, commit: term * 2 });
    assert.equal(store.get("meta", "term") ?? 0, term, "records of one transaction land together");
    await store.close();
  }
  assert.ok(acked > 0);
});

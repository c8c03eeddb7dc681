import { test } from "node:test";
import assert from "node:assert/strict";
import * as index from "./index.js";

test("protocol index - re-exports every runtime export of the public modules", async () => {
  const modules = ["./decode-error.js", "./raft.js", "./conf-change.js", "./raft-codec.js", "./record-batch.js", "./errors.js", "./subjects.js", "./reassignment-plan.js"];
  for (const path of modules) {
    const mod = (await import(path)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      assert.equal((index as Record<string, unknown>)[name], value, `${path} ${name} is re-exported by index.ts`);
    }
  }
});

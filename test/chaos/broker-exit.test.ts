import assert from "node:assert/strict";
import { test } from "node:test";
import { unexpectedExit } from "./broker-exit.js";

test("chaos broker exit - a SIGTERM-ed broker must exit 0 once it has started", () => {
  assert.equal(unexpectedExit({ stopping: "term", code: 0, signal: null, loggedBytes: 900 }, false), undefined);
  assert.equal(unexpectedExit({ stopping: "term", code: 1, signal: null, loggedBytes: 900 }, false), "did not stop cleanly after SIGTERM (code 1)");
  assert.equal(unexpectedExit({ stopping: "term", code: null, signal: "SIGTERM", loggedBytes: 900 }, false), "did not stop cleanly after SIGTERM (SIGTERM)", "it had started, yet the signal's default action ended it: no handler");
});

test("chaos broker exit - a SIGTERM that ends a broker still booting (nothing logged yet) is no crash (chaos seed 103)", () => {
  assert.equal(unexpectedExit({ stopping: "term", code: null, signal: "SIGTERM", loggedBytes: 0 }, false), undefined);
  assert.equal(unexpectedExit({ stopping: "term", code: null, signal: "SIGSEGV", loggedBytes: 0 }, false), "did not stop cleanly after SIGTERM (SIGSEGV)");
});

test("chaos broker exit - a kill is always expected; an exit nobody asked for is a crash unless the run is over", () => {
  assert.equal(unexpectedExit({ stopping: "kill", code: null, signal: "SIGKILL", loggedBytes: 10 }, false), undefined);
  assert.equal(unexpectedExit({ stopping: undefined, code: 1, signal: null, loggedBytes: 10 }, false), "exited by itself (code 1)");
  assert.equal(unexpectedExit({ stopping: undefined, code: null, signal: "SIGKILL", loggedBytes: 10 }, true), undefined);
});

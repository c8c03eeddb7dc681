import { test } from "node:test";
import assert from "node:assert/strict";
import { AttemptTimeout } from "./attempt-timeout.js";

test("attempt timeout - waits a few times the slowest recent answer, doubling per retry up to the full timeout", () => {
  const t = new AttemptTimeout(6000, true);
  assert.equal(t.forAttempt(0), 6000, "no answer seen yet: the full timeout");
  t.answered(20);
  assert.equal(t.forAttempt(0), 1000, "never below a second");
  t.answered(500);
  assert.equal(t.forAttempt(0), 1500);
  assert.equal(t.forAttempt(1), 3000);
  assert.equal(t.forAttempt(2), 6000);
  assert.equal(t.forAttempt(40), 6000);
  for (let i = 0; i < 32; i++) t.answered(10);
  assert.equal(t.forAttempt(0), 1000, "the slow answer has left the window");
});

test("attempt timeout - without UUID dedup an attempt always gets the full timeout", () => {
  const t = new AttemptTimeout(6000, false);
  t.answered(10);
  assert.equal(t.forAttempt(0), 6000);
});

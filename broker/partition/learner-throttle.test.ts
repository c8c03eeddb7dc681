import { test } from "node:test";
import assert from "node:assert/strict";
import { LearnerThrottle, type ThrottleClock } from "./learner-throttle.js";

/** A clock the test moves by hand: scheduled calls run when their time is reached. */
class ManualClock implements ThrottleClock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void }> = [];
  now(): number {
    return this.t;
  }
  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return () => (this.timers = this.timers.filter((x) => x !== timer));
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

test("learner throttle - without a cap, messages go at once", () => {
  const throttle = new LearnerThrottle(new ManualClock());
  const sent: number[] = [];
  for (let i = 0; i < 5; i++) throttle.send(1 << 20, () => sent.push(i));
  assert.deepEqual(sent, [0, 1, 2, 3, 4]);
});

test("learner throttle - with a cap, bytes go out at that rate, in order, and nothing is dropped", () => {
  const clock = new ManualClock();
  const throttle = new LearnerThrottle(clock);
  throttle.setRate(100_000); // 100 kB/s
  const sent: number[] = [];
  for (let i = 0; i < 50; i++) throttle.send(10_000, () => sent.push(i));
  clock.advance(1000);
  // 100 kB of budget in a second: ten 10 kB messages (give or take the first one's head start).
  assert.ok(sent.length >= 10 && sent.length <= 12, `${sent.length} sent in the first second`);
  clock.advance(2000);
  assert.ok(sent.length >= 30 && sent.length <= 32, `${sent.length} sent after three seconds`);
  throttle.setRate(0);
  assert.deepEqual(sent, Array.from({ length: 50 }, (_, i) => i), "lifting the cap sends the rest, in order");
  assert.equal(throttle.queued, 0);
});

/**
 * The reassignment throttle (`flotilla reassign execute --throttle MBPS`): a token bucket shared by
 * every partition a broker leads, through which their appends to learners (replicas catching up)
 * go. Messages past the budget wait, in order, and go out as it refills; nothing is dropped, so a
 * learner only catches up more slowly. Voters and heartbeats never wait: producers do not feel the
 * moves. Raft's in-flight window (count and bytes per follower) bounds what can queue here.
 */

/** How much unused budget may pile up: a tenth of a second's worth, so the rate holds over short spans too. */
const BURST_SECONDS = 0.1;

export interface ThrottleClock {
  now(): number;
  /** Calls `fn` after `ms`; returns a cancel function. */
  schedule(fn: () => void, ms: number): () => void;
}

const realClock: ThrottleClock = {
  now: () => Date.now(),
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

export class LearnerThrottle {
  /** Bytes per second; 0: no cap. */
  private rate = 0;
  /** Budget left; may go below zero after a message larger than it (the debt delays the next). */
  private tokens = 0;
  private refilledAt: number;
  private readonly waiting: Array<{ bytes: number; send: () => void }> = [];
  private cancelTimer: (() => void) | undefined;

  constructor(private readonly clock: ThrottleClock = realClock) {
    this.refilledAt = clock.now();
  }

  get bytesPerSec(): number {
    return this.rate;
  }

  /** Messages waiting for budget (tests, metrics). */
  get queued(): number {
    return this.waiting.length;
  }

  /** Sets the cap (0: none — whatever waits goes now). */
  setRate(bytesPerSec: number): void {
    if (bytesPerSec === this.rate) return;
    this.refill();
    this.rate = bytesPerSec;
    this.tokens = Math.min(this.tokens, this.burst());
    this.release();
  }

  /** Sends a message of `bytes` to a learner now, or once the budget allows (after those already waiting). */
  send(bytes: number, send: () => void): void {
    this.waiting.push({ bytes, send });
    this.release();
  }

  private burst(): number {
    return this.rate * BURST_SECONDS;
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.rate > 0) this.tokens = Math.min(this.burst(), this.tokens + ((now - this.refilledAt) / 1000) * this.rate);
    this.refilledAt = now;
  }

  private release(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.refill();
    while (this.waiting.length > 0 && (this.rate === 0 || this.tokens > 0)) {
      const m = this.waiting.shift()!;
      if (this.rate > 0) this.tokens -= m.bytes;
      m.send();
    }
    if (this.waiting.length > 0) this.cancelTimer = this.clock.schedule(() => this.release(), Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000)));
  }
}

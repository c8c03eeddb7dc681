/**
 * How long one produce attempt waits for its answer. A request that reached a leader which then
 * died gets no answer at all (NATS cannot tell a dead responder from a slow one), and waiting out
 * the whole `timeoutMs` for it stalls the partition for seconds after every leader failure. An
 * idempotent producer may resend sooner, as the resend carries the same UUID: the new leader
 * appends it once, and a leader still working on the first copy answers both with one offset. So
 * an attempt waits a few times the slowest recent answer (at least a second), and each retry of a
 * batch twice as long as the one before, up to the full timeout, so that a broker that turned slow
 * is waited for rather than given up on.
 */
const RECENT = 32;
/** Attempts wait this many times the slowest of the recent answers. */
const FACTOR = 3;
const FLOOR_MS = 1000;

export class AttemptTimeout {
  private readonly recent: number[] = [];
  private next = 0;

  /** `fullMs`: the longest wait, and the only one when resending is not safe (no UUID dedup). */
  constructor(
    private readonly fullMs: number,
    private readonly mayResendEarly: boolean,
  ) {}

  /** An answer came back `ms` after its request was sent. */
  answered(ms: number): void {
    this.recent[this.next] = ms;
    this.next = (this.next + 1) % RECENT;
  }

  /** The wait for attempt `n` (0: the first send) of a batch. */
  forAttempt(n: number): number {
    if (!this.mayResendEarly || this.recent.length === 0) return this.fullMs;
    const base = Math.max(FLOOR_MS, FACTOR * Math.max(...this.recent));
    return Math.min(this.fullMs, base * 2 ** Math.min(n, 16));
  }
}

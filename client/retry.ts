/**
 * The one retry module (KafkaJS's shape): exponential backoff with jitter; only errors marked
 * retriable are retried (a FlotillaError whose code says so); anything else, programming errors
 * included, is thrown at once. When retries run out, the last error is thrown again, wrapped with
 * its cause and a message that says how long we tried.
 *
 * Delay before retry n (n = 0 for the first retry):
 *   min(maxRetryTimeMs, initialRetryTimeMs * multiplier^n), then ±factor jitter.
 * A NOT_LEADER that names the new leader is retried after `initialRetryTimeMs` without growing the
 * delay: the partition has a leader, it only has to take over the subject.
 */
import { FlotillaError } from "../protocol/errors.js";

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  initialRetryTimeMs: number;
  maxRetryTimeMs: number;
  multiplier: number;
  /** Jitter: each delay is scaled by a random value in [1 - factor, 1 + factor]. */
  factor: number;
}

export const DEFAULT_RETRY: RetryOptions = Object.freeze({
  retries: 8,
  initialRetryTimeMs: 100,
  maxRetryTimeMs: 5000,
  multiplier: 2,
  factor: 0.2,
});

/** What the retry loop needs from the world; tests replace it. */
export interface RetryEnv {
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const realRetryEnv: RetryEnv = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** Every problem with retry options, at once; empty when they are fine. */
export function retryOptionsProblems(o: Partial<RetryOptions>, where = "retry"): string[] {
  const problems: string[] = [];
  const check = (k: keyof RetryOptions, ok: (v: number) => boolean, rule: string): void => {
    const v = o[k];
    if (v !== undefined && (typeof v !== "number" || !ok(v))) problems.push(`${where}.${k} ${String(v)} must be ${rule}`);
  };
  check("retries", (v) => Number.isSafeInteger(v) && v >= 0, "an integer ≥ 0");
  check("initialRetryTimeMs", (v) => Number.isFinite(v) && v >= 0, "a number ≥ 0");
  check("maxRetryTimeMs", (v) => Number.isFinite(v) && v >= 0, "a number ≥ 0");
  check("multiplier", (v) => Number.isFinite(v) && v >= 1, "a number ≥ 1");
  check("factor", (v) => Number.isFinite(v) && v >= 0 && v < 1, "a number in [0, 1)");
  return problems;
}

/** The delay before retry `n` (0-based) after `error`, with `random` in [0, 1). */
export function retryDelay(o: RetryOptions, n: number, error: unknown, random: number): number {
  const leaderKnown = error instanceof FlotillaError && error.code === "NOT_LEADER" && error.leader !== undefined;
  const base = leaderKnown ? o.initialRetryTimeMs : Math.min(o.maxRetryTimeMs, o.initialRetryTimeMs * o.multiplier ** n);
  const jitter = 1 - o.factor + 2 * o.factor * random;
  return Math.max(0, Math.round(base * jitter));
}

/** True when `retry` would try again after this error. */
export function shouldRetry(e: unknown): e is FlotillaError {
  return e instanceof FlotillaError && e.retriable;
}

export interface RetryHooks {
  /** Called before each retry (e.g. to mark metadata stale when `error.refreshMetadata`). */
  onRetry?(error: FlotillaError, attempt: number, delayMs: number): void | Promise<void>;
  /** Narrows what is retried: a retriable error this returns false for is thrown at once. */
  retriable?(error: FlotillaError): boolean;
}

/**
 * Runs `fn(attempt)` until it resolves, retrying retriable errors per `options`. `fn` gets the
 * 0-based attempt number.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = DEFAULT_RETRY,
  hooks: RetryHooks = {},
  env: RetryEnv = realRetryEnv,
): Promise<T> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (!shouldRetry(e) || hooks.retriable?.(e) === false) throw e;
      if (attempt >= options.retries) {
        const why = `gave up after ${attempt + 1} attempt${attempt === 0 ? "" : "s"} over ${Date.now() - started} ms`;
        throw new FlotillaError(e.code, `${e.message} (${why})`, { cause: e, leader: e.leader });
      }
      const delay = retryDelay(options, attempt, e, env.random());
      await hooks.onRetry?.(e, attempt, delay);
      await env.sleep(delay);
    }
  }
}

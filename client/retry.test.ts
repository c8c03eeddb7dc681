import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "../protocol/errors.js";
import { fromNatsError, FlotillaConnectionError } from "./errors.js";
import { DEFAULT_RETRY, retry, retryDelay, retryOptionsProblems } from "./retry.js";
import { instantRetryEnv } from "./test-support.js";

test("retry - retriable errors are retried until success", async () => {
  const env = instantRetryEnv();
  let calls = 0;
  const v = await retry(async (attempt) => {
    calls++;
    if (attempt < 3) throw new FlotillaError("NO_LEADER");
    return "ok";
  }, DEFAULT_RETRY, {}, env);
  assert.equal(v, "ok");
  assert.equal(calls, 4);
  assert.deepEqual(env.delays, [100, 200, 400], "exponential (random 0.5 = no jitter)");
});

test("retry - non-retriable FlotillaErrors and programming errors are thrown at once", async () => {
  for (const err of [new FlotillaError("TOPIC_EXISTS"), new TypeError("bug"), new FlotillaError("BATCH_TOO_LARGE")]) {
    let calls = 0;
    await assert.rejects(
      retry(async () => {
        calls++;
        throw err;
      }, DEFAULT_RETRY, {}, instantRetryEnv()),
      (e) => e === err,
    );
    assert.equal(calls, 1);
  }
});

test("retry - giving up wraps the last error with its cause, keeping its code", async () => {
  const env = instantRetryEnv();
  const last = new FlotillaError("TIMEOUT", "produce to t/0: no answer in time");
  await assert.rejects(
    retry(async () => {
      throw last;
    }, { ...DEFAULT_RETRY, retries: 2 }, {}, env),
    (e: unknown) => e instanceof FlotillaError && e.code === "TIMEOUT" && e.retriable && e.cause === last && /gave up after 3 attempts/.test(e.message),
  );
  assert.equal(env.delays.length, 2);
});

test("retry - delays grow to the cap, jitter stays within ±factor, a NOT_LEADER with a hint retries soon", () => {
  const o = { retries: 10, initialRetryTimeMs: 100, maxRetryTimeMs: 1000, multiplier: 2, factor: 0.2 };
  const e = new FlotillaError("NO_LEADER");
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => retryDelay(o, n, e, 0.5)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal(retryDelay(o, 2, e, 0), 320);
  assert.equal(retryDelay(o, 2, e, 0.999999), 480);
  assert.equal(retryDelay(o, 5, new FlotillaError("NOT_LEADER", "moved", { leader: 2 }), 0.5), 100);
  assert.equal(retryDelay(o, 5, new FlotillaError("NOT_LEADER", "moved"), 0.5), 1000, "no hint: normal backoff");
});

test("retry - onRetry sees each error (metadata refresh hook); options are validated all at once", async () => {
  const seen: string[] = [];
  let n = 0;
  await retry(async () => {
    if (n++ === 0) throw new FlotillaError("NOT_LEADER", "x", { leader: 3 });
    return 1;
  }, DEFAULT_RETRY, { onRetry: (e) => void seen.push(`${e.code}:${e.refreshMetadata}`) }, instantRetryEnv());
  assert.deepEqual(seen, ["NOT_LEADER:true"]);
  assert.deepEqual(retryOptionsProblems({ retries: -1, factor: 2, multiplier: 0.5 }).length, 3);
});

test("errors - NATS failures map to retriable codes with messages that say what to do", () => {
  const part = { kind: "partition" as const, subject: "flotilla.c.p.t.0.produce", what: "produce to t/0" };
  const admin = { kind: "cluster" as const, subject: "flotilla.c.admin", what: "createTopic" };
  const noResp = Object.assign(new Error("503"), { code: "503" });
  const a = fromNatsError(noResp, part, "c");
  assert.equal(a.code, "NO_LEADER");
  assert.ok(a.retriable && a.refreshMetadata);
  const b = fromNatsError(noResp, admin, "c");
  assert.equal(b.code, "NO_LEADER");
  assert.match(b.message, /flotilla dev/);
  assert.match(b.message, /--cluster/);
  const t = fromNatsError(Object.assign(new Error("TIMEOUT"), { code: "TIMEOUT" }), part, "c");
  assert.equal(t.code, "TIMEOUT");
  assert.ok(t.retriable);
  const closed = fromNatsError(Object.assign(new Error("closed"), { code: "CONNECTION_CLOSED" }), part, "c");
  assert.ok(closed instanceof FlotillaConnectionError && !closed.retriable);
  const mine = new FlotillaError("INVALID_TOPIC");
  assert.equal(fromNatsError(mine, part, "c"), mine);
});

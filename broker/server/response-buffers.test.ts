import { test } from "node:test";
import assert from "node:assert/strict";
import { ResponseBuffers } from "./response-buffers.js";

test("response buffers - a released lease's memory serves the next lease; unreleased memory never does", () => {
  const pool = new ResponseBuffers(1024, 1, 64);
  const first = pool.lease();
  const a = first.alloc(100);
  assert.equal(a.length, 100);
  // Not released yet (the bus may still be sending it): the next lease gets other memory.
  const second = pool.lease();
  const b = second.alloc(1024);
  assert.notEqual(b.buffer, a.buffer);
  first.release();
  second.release(); // beyond `keep`: left to the GC
  const third = pool.lease();
  assert.equal(third.alloc(500).buffer, a.buffer);
  // Above the pooled size: a buffer of its own, never pooled.
  const big = third.alloc(2048);
  assert.equal(big.length, 2048);
  // Below the pooled minimum: a buffer of its own too, and the pooled one stays taken until released.
  const small = third.alloc(10);
  assert.equal(pool.lease().pooled, false);
  assert.equal(third.pooled, true);
  assert.notEqual(small.buffer, a.buffer);
  third.release();
  const fourth = pool.lease();
  assert.equal(fourth.alloc(64).buffer, a.buffer);
  assert.notEqual(fourth.alloc(1024).buffer, big.buffer);
});

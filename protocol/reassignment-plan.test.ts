import { test } from "node:test";
import assert from "node:assert/strict";
import { FlotillaError } from "./errors.js";
import { parseReassignmentPlan } from "./reassignment-plan.js";

test("reassignment plan - Kafka's reassignment JSON parses as it is", () => {
  const plan = { version: 1, partitions: [{ topic: "orders", partition: 0, replicas: [2, 3, 4] }, { topic: "audit.eu", partition: 5, replicas: [4] }] };
  assert.deepEqual(parseReassignmentPlan(JSON.parse(JSON.stringify(plan))), plan);
});

test("reassignment plan - a bad plan names every problem at once", () => {
  const bad = {
    version: 2,
    partitions: [
      { topic: "bad topic", partition: -1, replicas: [1, 1] },
      { topic: "ok", partition: 0, replicas: [] },
      { topic: "ok", partition: 0, replicas: [1] },
      null,
    ],
  };
  assert.throws(
    () => parseReassignmentPlan(bad),
    (e: unknown) =>
      e instanceof FlotillaError &&
      e.code === "INVALID_REQUEST" &&
      /version is 2/.test(e.message) &&
      /partitions\[0\]: topic name "bad topic"/.test(e.message) &&
      /partitions\[0\]: partition must be an integer/.test(e.message) &&
      /partitions\[0\]: replicas name a broker twice/.test(e.message) &&
      /partitions\[1\]: replicas must be 1 to 64 broker ids/.test(e.message) &&
      /partitions\[2\]: ok-0 appears twice/.test(e.message) &&
      /partitions\[3\] is not an object/.test(e.message),
  );
  for (const notAPlan of [null, [], "plan", 7]) assert.throws(() => parseReassignmentPlan(notAPlan), FlotillaError);
});

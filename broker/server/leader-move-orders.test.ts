import { test } from "node:test";
import assert from "node:assert/strict";
import { LeaderMoveOrders } from "./leader-move-orders.js";

test("leader move orders - each broker gets its orders once, with its next heartbeat", () => {
  const orders = new LeaderMoveOrders();
  orders.order(1, ["t", 0, 2]);
  orders.order(1, ["t", 1, 3]);
  assert.deepEqual(orders.take(1), [["t", 0, 2], ["t", 1, 3]]);
  assert.deepEqual(orders.take(1), []);
});

test("leader move orders - a newer order for a partition replaces the older ones, whoever they wait for", () => {
  // Move t-0 to 4 (ordered to its replicas 1, 3), then straight to 3 (ordered to 1, 4): broker 3,
  // leading by the time it heartbeats, must not get the stale move to 4.
  const orders = new LeaderMoveOrders();
  orders.order(1, ["t", 0, 4]);
  orders.order(3, ["t", 0, 4]);
  orders.order(5, ["u", 0, 1]);
  orders.order(1, ["t", 0, 3]);
  orders.order(4, ["t", 0, 3]);
  assert.deepEqual(orders.take(3), []);
  assert.deepEqual(orders.take(1), [["t", 0, 3]]);
  assert.deepEqual(orders.take(4), [["t", 0, 3]]);
  assert.deepEqual(orders.take(5), [["u", 0, 1]], "other partitions' orders stay");
});

/** Bench - cluster workload options: defaults, every flag, and one error naming every problem. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { E2E_DEFAULT_RATE, WORKLOAD_DEFAULTS, parseWorkloadArgs } from "./workload-options.js";

test("workload options - defaults, and e2e gets a fixed rate unless given one", () => {
  const o = parseWorkloadArgs("produce", []);
  assert.equal(o.records, WORKLOAD_DEFAULTS.records);
  assert.equal(o.replicationFactor, 3);
  assert.equal(o.acks, "all");
  assert.equal(o.rate, undefined);
  assert.equal(o.json, false);
  assert.equal(parseWorkloadArgs("e2e", []).rate, E2E_DEFAULT_RATE);
  assert.equal(parseWorkloadArgs("e2e", ["--rate", "500"]).rate, 500);
  assert.equal(parseWorkloadArgs("compare", ["--workload", "e2e"]).rate, E2E_DEFAULT_RATE);
  assert.equal(parseWorkloadArgs("compare", []).rate, undefined);
});

test("workload options - every flag is read", () => {
  const o = parseWorkloadArgs("compare", [
    "--records", "500", "--size", "100", "--partitions", "4", "--replication-factor", "1", "--acks", "leader", "--producers", "2", "--rate", "900",
    "--idempotent", "false", "--linger-ms", "0", "--batch-bytes", "65536", "--max-in-flight", "3", "--nats", "nats://h:1", "--cluster", "c",
    "--workload", "consume", "--report", "r.html", "--cpu-prof", "/tmp/p", "--json",
  ]);
  assert.deepEqual(o, {
    records: 500, size: 100, partitions: 4, replicationFactor: 1, acks: "leader", producers: 2, rate: 900, idempotent: false, lingerMs: 0,
    batchBytes: 65536, maxInFlight: 3, nats: "nats://h:1", cluster: "c", workload: "consume", report: "r.html", cpuProfDir: "/tmp/p", json: true,
  });
});

test("workload options - bad values and unknown flags are all reported at once", () => {
  assert.throws(
    () => parseWorkloadArgs("produce", ["--records", "0", "--acks", "none", "--size", "x", "--workload", "e2e", "--frob", "--rate"]),
    (e: Error) =>
      /^bench produce: /.test(e.message) &&
      e.message.includes("--records needs an integer ≥ 1, got 0") &&
      e.message.includes("--acks must be all or leader, got none") &&
      e.message.includes("--size needs an integer ≥ 8, got x") &&
      e.message.includes("unknown option --workload") && // compare only
      e.message.includes("unknown option --frob") &&
      e.message.includes("--rate needs a value"),
  );
  assert.throws(() => parseWorkloadArgs("produce", ["--records", "2", "--producers", "3"]), /--producers 3 is more than --records 2/);
});

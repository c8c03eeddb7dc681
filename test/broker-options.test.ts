/**
 * Broker - options and controller messages: every problem reported at once, untrusted controller
 * messages refused with clear errors.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FlotillaError } from "../protocol/errors.js";
import { parseBrokerArgs, resolveBrokerOptions } from "../broker/server/index.js";
import { decodeControllerRequest, encodeControllerMessage } from "../broker/server/controller-messages.js";

describe("broker - options", () => {
  it("parses the flotilla broker flags (both --flag value and --flag=value)", () => {
    const o = parseBrokerArgs(["--id", "2", "--dir=/tmp/b2", "--controllers", "3,1,2", "--nats", "nats://h:1", "--cluster", "c1", "--metrics-port", "9100"], {});
    assert.deepEqual(o, { id: 2, dir: "/tmp/b2", controllers: [3, 1, 2], nats: "nats://h:1", cluster: "c1", metricsPort: 9100 });
    const r = resolveBrokerOptions(o);
    assert.deepEqual(r.controllers, [1, 2, 3]);
    assert.equal(r.tickMs, 100);
  });

  it("takes the broker password from the environment, never from a flag", () => {
    const o = parseBrokerArgs(["--id", "1", "--dir", "d", "--controllers", "1"], { FLOTILLA_NATS_BROKER_PASSWORD: "s3cret" });
    assert.equal(o.natsUser, "broker");
    assert.equal(o.natsPassword, "s3cret");
    assert.throws(() => parseBrokerArgs(["--id", "1", "--dir", "d", "--controllers", "1", "--nats-password", "x"], {}), /unknown flag --nats-password/);
  });

  it("reports every problem at once", () => {
    assert.throws(
      () => parseBrokerArgs(["--id", "x", "--controllers", "1,,2", "--bogus", "1", "stray"], {}),
      (e: Error) =>
        e instanceof RangeError &&
        /--id "x"/.test(e.message) &&
        /--dir is required/.test(e.message) &&
        /--controllers "1,,2"/.test(e.message) &&
        /unknown flag --bogus/.test(e.message) &&
        /unexpected argument "stray"/.test(e.message),
    );
    assert.throws(
      () => resolveBrokerOptions({ id: 0, dir: "", controllers: [1, 1], cluster: "a.b", metricsPort: 70000, heartbeatMs: 500, sessionTimeoutMs: 600 }),
      (e: Error) =>
        /--id 0/.test(e.message) &&
        /--dir is required/.test(e.message) &&
        /lists a broker twice/.test(e.message) &&
        /--cluster/.test(e.message) &&
        /--metrics-port 70000/.test(e.message) &&
        /more than two heartbeats/.test(e.message),
    );
  });
});

describe("broker - controller messages", () => {
  const bad = (bytes: Uint8Array, code: string, pattern: RegExp): void => {
    assert.throws(
      () => decodeControllerRequest(bytes),
      (e: unknown) => e instanceof FlotillaError && e.code === code && pattern.test(e.message),
    );
  };

  it("round-trips a heartbeat", () => {
    const hb = { type: "heartbeat" as const, brokerId: 2, brokerEpoch: 7, appliedIndex: 9, shuttingDown: false, led: [["t", 0, 3, "10", "0"] as [string, number, number, string, string]] };
    assert.deepEqual(decodeControllerRequest(encodeControllerMessage(hb)), hb);
  });

  it("round-trips a forwarded admin write (bytes as base64) and a reassignment report", () => {
    const write = { type: "adminWrite" as const, request: Buffer.from([0x93, 0x01, 0x28, 0xc0, 0xff]) };
    const decoded = decodeControllerRequest(encodeControllerMessage(write));
    assert.deepEqual(decoded.type === "adminWrite" && Buffer.from(decoded.request), write.request);
    const report = { type: "reassignmentReport" as const, topic: "t", topicId: "00000000-0000-4000-8000-000000000001", partition: 3, step: "done" as const };
    assert.deepEqual(decodeControllerRequest(encodeControllerMessage(report)), report);
  });

  it("refuses garbage, other versions, unknown types and bad fields with clear errors", () => {
    bad(encodeControllerMessage({ type: "adminWrite", request: "not base64!" }), "INVALID_REQUEST", /request must be base64/);
    bad(encodeControllerMessage({ type: "reassignmentReport", topic: "t", topicId: "x", partition: 0, step: "halfway" }), "INVALID_REQUEST", /step must be one of/);
    bad(Buffer.from([0xff, 0xfe]), "INVALID_REQUEST", /not UTF-8 JSON/);
    bad(Buffer.from("[1,2]"), "INVALID_REQUEST", /not a JSON object/);
    bad(Buffer.from(JSON.stringify({ v: 99, type: "runtime" })), "UNSUPPORTED_VERSION", /version 99/);
    bad(encodeControllerMessage({ type: "explode" }), "INVALID_REQUEST", /unknown type/);
    bad(encodeControllerMessage({ type: "register", brokerId: -1, incarnation: "x" }), "INVALID_REQUEST", /brokerId/);
    bad(encodeControllerMessage({ type: "heartbeat", brokerId: 1, brokerEpoch: 1, appliedIndex: 0, shuttingDown: "no", led: [] }), "INVALID_REQUEST", /shuttingDown/);
    bad(encodeControllerMessage({ type: "heartbeat", brokerId: 1, brokerEpoch: 1, appliedIndex: 0, shuttingDown: false, led: [["t", 0, 1, "-5", "0"]] }), "INVALID_REQUEST", /led\[0\]/);
    bad(encodeControllerMessage({ type: "createTopic", topic: "t", partitions: 1, replicationFactor: 1, configs: { a: 1 } }), "INVALID_REQUEST", /configs/);
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode, FlotillaError, errorCodeById, isRetriable, type ErrorCodeName } from "./errors.js";

const codes = Object.keys(ErrorCode) as ErrorCodeName[];

test("errors - the table is consistent: unique positive ids, messages, lookups", () => {
  const ids = codes.map((c) => ErrorCode[c].id);
  assert.equal(new Set(ids).size, ids.length, "ids are unique");
  for (const c of codes) {
    const spec = ErrorCode[c];
    assert.ok(Number.isInteger(spec.id) && spec.id > 0, `${c}: positive id`);
    assert.ok(Number.isInteger(spec.kafka) && spec.kafka >= -1, `${c}: kafka code`);
    assert.match(c, /^[A-Z][A-Z_]*$/);
    assert.ok(spec.message.length > 0);
    assert.equal(errorCodeById(spec.id), c);
  }
  assert.equal(errorCodeById(9999), undefined);
});

test("errors - the codes the brokers and clients rely on exist with the right flags", () => {
  const expect: [ErrorCodeName, boolean, boolean][] = [
    ["NOT_LEADER", true, true],
    ["NO_LEADER", true, true],
    ["TIMEOUT", true, true],
    ["NOT_CONTROLLER", true, true],
    ["UNKNOWN_TOPIC", true, true],
    ["INVALID_REQUEST", false, false],
    ["BATCH_TOO_LARGE", false, false],
    ["DUPLICATE_SEQUENCE", false, false],
    ["OUT_OF_ORDER_SEQUENCE", true, false],
    ["UNKNOWN_PRODUCER", true, false],
    ["UNKNOWN_MEMBER", false, false],
    ["INTERNAL", false, false],
  ];
  for (const [code, retriable, refresh] of expect) {
    assert.equal(ErrorCode[code].retriable, retriable, `${code} retriable`);
    assert.equal(ErrorCode[code].refreshMetadata, refresh, `${code} refreshMetadata`);
  }
  // A code that asks for a metadata refresh means "wrong broker": retrying after it makes sense,
  // except for a partition number that does not exist.
  for (const c of codes) if (ErrorCode[c].refreshMetadata && c !== "INVALID_PARTITION") assert.ok(ErrorCode[c].retriable, c);
});

test("errors - FlotillaError carries code, flags, cause and leader hint, and crosses the wire", () => {
  const cause = new Error("disk full");
  const e = new FlotillaError("STORAGE_ERROR", undefined, { cause });
  assert.ok(e instanceof Error);
  assert.equal(e.name, "FlotillaError");
  assert.equal(e.code, "STORAGE_ERROR");
  assert.equal(e.message, ErrorCode.STORAGE_ERROR.message);
  assert.equal(e.cause, cause);
  assert.equal(e.retriable, true);
  assert.ok(isRetriable(e));
  assert.ok(!isRetriable(new Error("bug")));

  const notLeader = new FlotillaError("NOT_LEADER", "partition orders/3 moved", { leader: 2 });
  assert.deepEqual(notLeader.toWire(), { id: ErrorCode.NOT_LEADER.id, message: "partition orders/3 moved", leader: 2 });
  const back = FlotillaError.fromWire(notLeader.toWire());
  assert.equal(back.code, "NOT_LEADER");
  assert.equal(back.leader, 2);
  assert.equal(back.message, "partition orders/3 moved");
  assert.equal(FlotillaError.fromWire({ id: ErrorCode.NOT_LEADER.id, message: "m", leader: -1 }).leader, undefined);

  const unknown = FlotillaError.fromWire({ id: 9999, message: "from the future" });
  assert.equal(unknown.code, "INTERNAL");
  assert.match(unknown.message, /unknown error id 9999: from the future/);
  assert.equal(unknown.retriable, false);
});

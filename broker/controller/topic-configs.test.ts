import { test } from "node:test";
import assert from "node:assert/strict";
import { KNOWN_TOPIC_CONFIGS, normalizeTopicConfigs, parseTopicConfig, topicConfigProblems } from "./topic-configs.js";

test("topic configs - defaults fill in what a topic does not set", () => {
  assert.deepEqual(parseTopicConfig({}), {
    retentionMs: 7 * 24 * 3600 * 1000,
    retentionBytes: -1,
    cleanupPolicy: "delete",
    segmentBytes: 64 * 1024 * 1024,
    segmentMs: 7 * 24 * 3600 * 1000,
    minInsyncReplicas: 1,
    maxMessageBytes: 1024 * 1024,
    deleteRetentionMs: 24 * 3600 * 1000,
  });
  assert.equal(KNOWN_TOPIC_CONFIGS.length, 8);
});

test("topic configs - values are parsed into their typed fields", () => {
  const c = parseTopicConfig(normalizeTopicConfigs({ "retention.ms": "-1", "cleanup.policy": "delete,compact", "min.insync.replicas": "2" }));
  assert.equal(c.retentionMs, -1);
  assert.equal(c.cleanupPolicy, "compact,delete");
  assert.equal(c.minInsyncReplicas, 2);
});

test("topic configs - integers are written plainly: no signs, exponents, spaces or leading zeros", () => {
  for (const v of ["+5", "1e3", " 5", "05", "5.0", "", "0x10", "9007199254740992"]) {
    assert.equal(topicConfigProblems({ "retention.bytes": v }, 1).length, 1, v);
  }
  assert.deepEqual(topicConfigProblems({ "retention.bytes": "0", "segment.ms": "1" }, 1), []);
});

test("topic configs - a config that never passed validation is a bug, not a default", () => {
  assert.throws(() => parseTopicConfig({ "retention.ms": "soon" }), RangeError);
  assert.throws(() => parseTopicConfig({ colour: "red" }), RangeError);
  assert.deepEqual(topicConfigProblems({ constructor: "x", toString: "y" }, 1).length, 2);
});

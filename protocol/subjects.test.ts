import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_RAFT_MULTICAST,
  brokerOnlySubjects,
  clientPublishSubjects,
  clusterNameProblem,
  decodeTopicToken,
  encodeTopicToken,
  parseSubject,
  subjects,
  topicNameProblem,
} from "./subjects.js";
import { FlotillaError } from "./errors.js";
import { DecodeError } from "./decode-error.js";

test("subjects - every subject starts with flotilla.<cluster>.", () => {
  assert.equal(subjects.raft("prod", 3), "flotilla.prod.raft.3");
  assert.equal(subjects.produce("prod", "orders", 0), "flotilla.prod.p.orders.0.produce");
  assert.equal(subjects.fetch("prod", "orders", 12), "flotilla.prod.p.orders.12.fetch");
  assert.equal(subjects.metadata("prod"), "flotilla.prod.metadata");
  assert.equal(subjects.admin("prod"), "flotilla.prod.admin");
  assert.equal(subjects.controller("prod"), "flotilla.prod.controller");
  assert.equal(subjects.faultControl("prod", 2), "flotilla.prod.faults.2");
  assert.deepEqual(clientPublishSubjects("prod"), ["flotilla.prod.p.>", "flotilla.prod.metadata", "flotilla.prod.admin", "flotilla.prod.group.>"]);
  assert.deepEqual(brokerOnlySubjects("prod"), ["flotilla.prod.raft.>", "flotilla.prod.controller", "flotilla.prod.faults.>"]);
});

/** NATS subject matching: `*` matches one token, a final `>` one or more. */
function natsMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

test("subjects - a multicast Raft subject reaches each broker it names through exactly one of its subscriptions, and no other broker", () => {
  assert.equal(subjects.raftMulticast("prod", [2, 3]), "flotilla.prod.raft.m.2.3");
  const brokers = [1, 2, 3, 4, 5, 6];
  const sets = [[2, 3], [1, 5, 6], [1, 2, 3, 4], [3, 6]];
  for (const ids of sets) {
    const subject = subjects.raftMulticast("prod", ids);
    assert.ok(natsMatches(brokerOnlySubjects("prod")[0], subject), "broker-only, under raft.>");
    for (const b of brokers) {
      const matching = subjects.raftMulticastInterest("prod", b).filter((pattern) => natsMatches(pattern, subject));
      assert.equal(matching.length, ids.includes(b) ? 1 : 0, `${subject} for broker ${b}: ${matching.join(", ")}`);
    }
  }
  assert.ok(subjects.raftMulticastInterest("prod", 2).every((pattern) => !natsMatches(pattern, subjects.raft("prod", 2))));
  assert.throws(() => subjects.raftMulticast("prod", [2]), RangeError);
  assert.throws(() => subjects.raftMulticast("prod", [3, 2]), RangeError);
  assert.throws(() => subjects.raftMulticast("prod", [2, 2]), RangeError);
  assert.throws(() => subjects.raftMulticast("prod", Array.from({ length: MAX_RAFT_MULTICAST + 1 }, (_, i) => i + 1)), RangeError);
});

test("subjects - a topic with dots stays one token and maps back one-to-one", () => {
  assert.equal(subjects.produce("c", "orders.eu.v2", 1), "flotilla.c.p.orders~eu~v2.1.produce");
  for (const topic of ["a", "orders.eu", "..x", "_internal-topic.1", "A".repeat(249), "a_b", "a-b.c_d"]) {
    const token = encodeTopicToken(topic);
    assert.ok(!token.includes("."), token);
    assert.equal(decodeTopicToken(token), topic);
  }
  // Kafka's own collision ('.' vs '_') does not happen here.
  assert.notEqual(encodeTopicToken("a.b"), encodeTopicToken("a_b"));
});

test("subjects - names are validated with a message that says what is wrong", () => {
  assert.equal(topicNameProblem("orders"), undefined);
  assert.match(topicNameProblem("")!, /empty/);
  assert.match(topicNameProblem(".")!, /not allowed/);
  assert.match(topicNameProblem("..")!, /not allowed/);
  assert.match(topicNameProblem("a".repeat(250))!, /250 characters, at most 249/);
  for (const bad of ["a b", "a*b", "a>b", "a~b", "a/b", "ünï", "a\nb"]) assert.match(topicNameProblem(bad)!, /may contain only/, bad);
  assert.equal(clusterNameProblem("flotilla"), undefined);
  for (const bad of ["", "a.b", "a*", ">", "x".repeat(65), "a b"]) assert.ok(clusterNameProblem(bad), bad);

  assert.throws(() => subjects.produce("c", "bad topic", 0), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_TOPIC");
  assert.throws(() => subjects.produce("c", "t", -1), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_PARTITION");
  assert.throws(() => subjects.produce("c", "t", 1.5), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_PARTITION");
  assert.throws(() => subjects.metadata("a.b"), (e: unknown) => e instanceof FlotillaError && e.code === "INVALID_CONFIG");
  assert.throws(() => subjects.raft("c", 0), RangeError);
});

test("subjects - parseSubject inverts the builders and rejects anything else", () => {
  assert.deepEqual(parseSubject(subjects.raft("c", 7)), { kind: "raft", cluster: "c", brokerId: 7 });
  assert.deepEqual(parseSubject(subjects.faultControl("c", 2)), { kind: "faults", cluster: "c", brokerId: 2 });
  assert.deepEqual(parseSubject(subjects.produce("c", "a.b", 3)), { kind: "produce", cluster: "c", topic: "a.b", partition: 3 });
  assert.deepEqual(parseSubject(subjects.fetch("c", "t", 0)), { kind: "fetch", cluster: "c", topic: "t", partition: 0 });
  assert.deepEqual(parseSubject(subjects.group("c", 3)), { kind: "group", cluster: "c", offsetsPartition: 3 });
  assert.deepEqual(parseSubject(subjects.replicaFetch("c", "a.b", 1, 3)), { kind: "replicaFetch", cluster: "c", topic: "a.b", partition: 1, brokerId: 3 });
  assert.throws(() => subjects.replicaFetch("c", "t", 0, 0), "broker ids start at 1");
  for (const kind of ["metadata", "admin", "controller"] as const) assert.deepEqual(parseSubject(`flotilla.c.${kind}`), { kind, cluster: "c" });
  for (const bad of [
    "",
    "flotilla",
    "other.c.metadata",
    "flotilla.c.raft.0",
    "flotilla.c.raft.01",
    "flotilla.c.raft.x",
    "flotilla.c.p.t.1",
    "flotilla.c.p.t.-1.produce",
    "flotilla.c.p.t.1.delete",
    "flotilla.c.p.~.1.produce",
    "flotilla.c.p.a*b.1.fetch",
    "flotilla.c.p.t.99999999999.fetch",
    "flotilla.c.p.t.1.produce.2",
    "flotilla.c.p.t.1.fetch.0",
    "flotilla.c.metadata.extra",
    "flotilla.c.group",
    "flotilla.c.group.x",
    "flotilla.a*.metadata",
  ]) {
    assert.throws(() => parseSubject(bad), DecodeError, bad);
  }
});

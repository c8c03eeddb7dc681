/**
 * Broker - under ops' secure NATS config: brokers connect as the `broker` user (password from the
 * environment, as `flotilla broker` reads it), a client as `client`; topics are created, records
 * produced and fetched, and the client still cannot reach the controller subject.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, type NatsConnection } from "nats";
import { encodeRecordBatch } from "../protocol/record-batch.js";
import { decodeResponse, encodeRequest } from "../protocol/requests.js";
import { subjects } from "../protocol/subjects.js";
import { Broker, parseBrokerArgs } from "../broker/server/index.js";
import { cleanup, setup, type NatsServer } from "../ops/nats-server.js";
import { CLUSTER, eventually, testLogger } from "./broker-fixtures.js";

describe("broker - under the secure NATS config", () => {
  // A leading letter: nats-server would read an all-hex value like 12e4… as a number (passwordProblem).
  const passwords = { broker: `b${randomBytes(12).toString("hex")}`, client: `c${randomBytes(12).toString("hex")}` };
  let server: NatsServer;
  let dir: string;
  let brokers: Broker[] = [];
  let nc: NatsConnection;

  before(async () => {
    server = await setup({ secure: { passwords, cluster: CLUSTER } });
    dir = await mkdtemp(join(tmpdir(), "flotilla-broker-secure-"));
    brokers = await Promise.all(
      [1, 2, 3].map((id) => {
        const argv = ["--id", String(id), "--dir", join(dir, `b${id}`), "--controllers", "1,2,3", "--nats", server.url, "--cluster", CLUSTER];
        return Broker.start({ ...parseBrokerArgs(argv, { FLOTILLA_NATS_BROKER_PASSWORD: passwords.broker }), logger: testLogger });
      }),
    );
    nc = await connect({ servers: server.url, user: "client", pass: passwords.client });
  });

  after(async () => {
    await nc?.close();
    await Promise.all(brokers.map((b) => b.stop()));
    await cleanup(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("serves a client end to end, and the client cannot reach the controller subject", async () => {
    const call = async <T>(subject: string, bytes: Uint8Array, decode: (b: Uint8Array) => T): Promise<T> => decode((await nc.request(subject, bytes, { timeout: 10_000 })).data);
    await eventually("3 alive unfenced brokers", async () => {
      const d = await call(subjects.admin(CLUSTER), encodeRequest("describeCluster", {}), (b) => decodeResponse("describeCluster", b));
      return !d.error && d.brokers.length === 3 && d.brokers.every((x) => x.alive && !x.fenced) ? d : undefined;
    });
    const created = await call(subjects.admin(CLUSTER), encodeRequest("createTopic", { topic: "secure", partitions: 1, replicationFactor: 3, configs: {} }), (b) => decodeResponse("createTopic", b));
    assert.equal(created.error, undefined);
    const produced = await eventually("a produce acknowledged", async () => {
      const r = await call(
        subjects.produce(CLUSTER, "secure", 0),
        encodeRequest("produce", { topic: "secure", partition: 0, acks: "all", timeoutMs: 5000, batchId: randomBytes(16), batch: encodeRecordBatch([{ key: null, value: Buffer.from("s") }]) }),
        (b) => decodeResponse("produce", b),
      );
      return r.error ? undefined : r;
    });
    assert.equal(produced.baseOffset, 0n);
    // A forged registration on the broker-only subject is refused by the server.
    await assert.rejects(nc.request(subjects.controller(CLUSTER), Buffer.from("{}"), { timeout: 2000 }));
  });
});

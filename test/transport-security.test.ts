/**
 * The NATS config ops/ ships, on a real nats-server: brokers and clients are different users, and
 * a client cannot put anything on a Raft subject.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect, headers, type ConnectionOptions, type NatsConnection, type Status } from "nats";
import { NatsTransport } from "../broker/transport/nats-transport.js";
import { encodeRaftBatch } from "../protocol/raft-codec.js";
import { subjects } from "../protocol/subjects.js";
import { brokerCredentials, cleanup, clientCredentials, setup, type NatsServer, type SecurePasswords } from "../ops/nats-server.js";
import { Collector, heartbeat, settle, silentLogger } from "./transport-fixtures.js";

const CLUSTER = "prod";
const passwords: SecurePasswords = { broker: "broker-secret", client: "client-secret" };

/** The status events a connection reports (permission violations arrive this way, asynchronously). */
function watchStatus(nc: NatsConnection): Status[] {
  const seen: Status[] = [];
  void (async () => {
    for await (const s of nc.status()) seen.push(s);
  })();
  return seen;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await settle(5);
  }
}

describe("security - NATS users", () => {
  let server: NatsServer;
  const connections: NatsConnection[] = [];
  const open = async (options: ConnectionOptions): Promise<NatsConnection> => {
    const nc = await connect({ servers: server.url, ...options });
    connections.push(nc);
    return nc;
  };
  let broker1: NatsTransport;
  let broker2: NatsTransport;
  let at2: Collector;

  before(async () => {
    server = await setup({ secure: { passwords, cluster: CLUSTER } });
    broker1 = new NatsTransport({ connection: await open(brokerCredentials(passwords)), cluster: CLUSTER, localId: 1, logger: silentLogger });
    broker2 = new NatsTransport({ connection: await open(brokerCredentials(passwords)), cluster: CLUSTER, localId: 2, logger: silentLogger });
    await Promise.all([broker1.flush(), broker2.flush()]);
    at2 = new Collector(broker2);
  });

  after(async () => {
    await Promise.all([broker1.close(), broker2.close()]);
    await Promise.all(connections.map((nc) => nc.close()));
    await cleanup(server);
  });

  it("a client's forged Raft message is refused: the broker never sees it, the client gets a permissions violation", async () => {
    const client = await open(clientCredentials(passwords));
    const status = watchStatus(client);
    const forged = encodeRaftBatch([{ ...heartbeat(1, 2, 666), term: 1_000_000 }]);
    const h = headers();
    h.set("Flotilla-From", "1");
    const raftSubject = subjects.raft(CLUSTER, 2);
    client.publish(raftSubject, forged, { headers: h });
    await client.flush();
    await waitFor(() => status.some((s) => s.type === "error" && s.data === "PERMISSIONS_VIOLATION"), "the permissions violation");
    const violation = status.find((s) => s.data === "PERMISSIONS_VIOLATION");
    assert.deepEqual(violation?.permissionContext, { operation: "publish", subject: raftSubject, queue: undefined });
    await settle(50);
    assert.equal(broker2.stats().batchesReceived, 0);
    assert.equal(at2.messages.length, 0);
    assert.ok(!client.isClosed(), "a violation refuses the message, not the connection");
  });

  it("a broker's Raft message goes through", async () => {
    broker1.send(2, heartbeat(1, 2, 7));
    const received = await at2.waitForMessages(1);
    assert.deepEqual(received.map((m) => [m.from, m.commit]), [[1, 7]]);
  });

  it("a client can neither read Raft traffic nor publish to the controller or the fault control", async () => {
    const client = await open(clientCredentials(passwords));
    const status = watchStatus(client);
    client.subscribe(subjects.raft(CLUSTER, 2));
    client.publish(subjects.controller(CLUSTER), new Uint8Array(1));
    client.publish(subjects.faultControl(CLUSTER, 2), new Uint8Array(1));
    await client.flush();
    await waitFor(() => status.filter((s) => s.data === "PERMISSIONS_VIOLATION").length >= 3, "three permissions violations");
    const operations = status.filter((s) => s.data === "PERMISSIONS_VIOLATION").map((s) => s.permissionContext?.operation);
    assert.deepEqual(operations.sort(), ["publish", "publish", "subscription"]);
  });

  it("a client may publish requests on the client subjects and get replies", async () => {
    const brokerSide = await open(brokerCredentials(passwords));
    const client = await open(clientCredentials(passwords));
    const status = watchStatus(client);
    for (const subject of [subjects.produce(CLUSTER, "orders.eu", 3), subjects.fetch(CLUSTER, "orders.eu", 3), subjects.metadata(CLUSTER), subjects.admin(CLUSTER)]) {
      brokerSide.subscribe(subject, { callback: (_err, msg) => msg.respond(msg.data) });
    }
    await brokerSide.flush();
    for (const subject of [subjects.produce(CLUSTER, "orders.eu", 3), subjects.fetch(CLUSTER, "orders.eu", 3), subjects.metadata(CLUSTER), subjects.admin(CLUSTER)]) {
      const reply = await client.request(subject, Uint8Array.of(1, 2), { timeout: 2000 });
      assert.deepEqual(Array.from(reply.data), [1, 2], subject);
    }
    assert.equal(status.filter((s) => s.data === "PERMISSIONS_VIOLATION").length, 0);
  });

  it("a wrong password or no credentials cannot connect", async () => {
    await assert.rejects(connect({ servers: server.url, user: "client", pass: "guess" }), /AUTHORIZATION_VIOLATION|Authorization/i);
    await assert.rejects(connect({ servers: server.url }), /AUTHORIZATION_VIOLATION|Authorization/i);
  });
});

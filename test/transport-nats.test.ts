import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect, type NatsConnection } from "nats";
import { NatsTransport } from "../broker/transport/nats-transport.js";
import { subjects } from "../protocol/subjects.js";
import { cleanup, setup, type NatsServer } from "../ops/nats-server.js";
import { describeTransportContract } from "./transport-contract.js";
import { Collector, heartbeat, settle, silentLogger } from "./transport-fixtures.js";
import { headers } from "nats";

const CLUSTER = "test";

/** One nats-server (with the given max_payload) and a connection per broker, as in production. */
async function natsNetwork(maxPayload: number): Promise<{
  server: NatsServer;
  connect(id: number): Promise<NatsTransport>;
  raw: NatsConnection;
  close(): Promise<void>;
}> {
  const server = await setup({ config: `max_payload: ${maxPayload}\n` });
  const connections: NatsConnection[] = [];
  const open = async (): Promise<NatsConnection> => {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    return nc;
  };
  const transports: NatsTransport[] = [];
  const raw = await open();
  return {
    server,
    raw,
    async connect(id) {
      const t = new NatsTransport({ connection: await open(), cluster: CLUSTER, localId: id, logger: silentLogger });
      transports.push(t);
      // The subscription must reach the server before anyone publishes to it.
      await t.flush();
      return t;
    },
    async close() {
      await Promise.all(transports.map((t) => t.close()));
      await Promise.all(connections.map((nc) => nc.close()));
      await cleanup(server);
    },
  };
}

describeTransportContract({
  name: "NATS",
  async create({ maxPayload }) {
    const net = await natsNetwork(maxPayload);
    return {
      connect: (id) => net.connect(id),
      async injectRaw(to, payload, from) {
        const h = headers();
        if (from !== undefined) h.set("Flotilla-From", String(from));
        net.raw.publish(subjects.raft(CLUSTER, to), payload, { headers: h });
        await net.raw.flush();
      },
      close: () => net.close(),
    };
  },
});

describe("NATS transport - wire", () => {
  let net: Awaited<ReturnType<typeof natsNetwork>>;
  before(async () => {
    net = await natsNetwork(256 * 1024);
  });
  after(() => net.close());

  it("sizes batches from the server's advertised max_payload", async () => {
    const t = await net.connect(11);
    assert.equal(net.raw.info?.max_payload, 256 * 1024);
    assert.ok(t.maxBatchBytes < 256 * 1024 && t.maxBatchBytes > 256 * 1024 - 256);
  });

  it("one tick's messages for a peer are ONE NATS message on its raft subject", async () => {
    const [t1, t2] = await Promise.all([net.connect(1), net.connect(2)]);
    const at2 = new Collector(t2);
    const wire: number[] = [];
    const spy = net.raw.subscribe(subjects.raft(CLUSTER, 2), { callback: (_err, msg) => wire.push(msg.data.length) });
    await net.raw.flush();
    for (let g = 0; g < 2000; g++) t1.send(2, heartbeat(1, 2, g));
    await t1.flush();
    await at2.waitForMessages(2000);
    await settle(20);
    spy.unsubscribe();
    assert.equal(wire.length, 1, `${wire.length} NATS messages`);
    assert.equal(at2.batches.length, 1);
    assert.equal(wire[0], t1.stats().bytesSent);
  });
});

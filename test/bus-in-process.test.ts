import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InProcessBusHub } from "../broker/transport/in-process-bus.js";
import type { MessageBus } from "../broker/transport/message-bus.js";
import { describeBusContract } from "./bus-contract.js";

describeBusContract({
  name: "in-process",
  async create({ maxPayload }) {
    const hub = new InProcessBusHub({ maxPayload });
    const buses: MessageBus[] = [];
    return {
      async connect() {
        const bus = hub.connect();
        buses.push(bus);
        return bus;
      },
      async ready() {},
      async close() {
        await Promise.all(buses.map((b) => b.close()));
      },
    };
  },
});

describe("in-process bus - connections", () => {
  it("fails a pending request when its connection closes, and stops the closed connection's subscriptions", async () => {
    const hub = new InProcessBusHub();
    const [server, client, other] = [hub.connect(), hub.connect(), hub.connect()];
    server.subscribe("svc.silent", {}, () => undefined);
    const pending = client.request("svc.silent", new Uint8Array(1), 60_000);
    await client.close();
    await assert.rejects(pending, (e: { code?: string }) => e.code === "CONNECTION_CLOSED");
    await server.close();
    await assert.rejects(other.request("svc.silent", new Uint8Array(1), 60_000), (e: { code?: string }) => e.code === "503");
    await other.close();
  });

  it("copies payloads: a publisher reusing its buffer does not change what was sent", async () => {
    const hub = new InProcessBusHub();
    const [server, client] = [hub.connect(), hub.connect()];
    const got = new Promise<Uint8Array>((resolve) => server.subscribe("s", {}, (m) => resolve(m.data)));
    const buffer = new Uint8Array([1, 2, 3]);
    client.publish("s", buffer);
    buffer.fill(9);
    assert.deepEqual([...(await got)], [1, 2, 3]);
    await Promise.all([server.close(), client.close()]);
  });
});

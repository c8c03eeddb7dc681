import { connect } from "nats";
import { NatsBus } from "../broker/transport/nats-bus.js";
import type { MessageBus } from "../broker/transport/message-bus.js";
import { cleanup, setup } from "../ops/nats-server.js";
import { describeBusContract } from "./bus-contract.js";

describeBusContract({
  name: "NATS",
  async create({ maxPayload }) {
    const server = await setup({ config: `max_payload: ${maxPayload}\n` });
    const buses: MessageBus[] = [];
    return {
      async connect() {
        const bus = new NatsBus(await connect({ servers: server.url }));
        buses.push(bus);
        return bus;
      },
      ready: (bus) => bus.flush(),
      async close() {
        await Promise.all(buses.map((b) => b.close()));
        await cleanup(server);
      },
    };
  },
});

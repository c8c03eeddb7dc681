import { InProcessNetwork } from "../broker/transport/in-process-transport.js";
import type { Transport } from "../broker/transport/transport.js";
import { describeTransportContract } from "./transport-contract.js";
import { silentLogger } from "./transport-fixtures.js";

describeTransportContract({
  name: "in-process",
  async create({ maxPayload }) {
    const network = new InProcessNetwork({ maxPayload, logger: silentLogger });
    const transports: Transport[] = [];
    return {
      async connect(id) {
        const t = network.connect(id);
        transports.push(t);
        return t;
      },
      async injectRaw(to, payload, from) {
        network.deliver(from, to, payload);
      },
      async close() {
        await Promise.all(transports.map((t) => t.close()));
      },
    };
  },
});

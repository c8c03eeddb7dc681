import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_MAX_PAYLOAD, InProcessNetwork } from "../broker/transport/in-process-transport.js";
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

describe("in-process transport - network", () => {
  it("holds one transport per broker id, and the id is free again after close", async () => {
    const network = new InProcessNetwork({ logger: silentLogger });
    const first = network.connect(1);
    assert.throws(() => network.connect(1), /already connected/);
    assert.throws(() => network.connect(0), /positive integer/);
    await first.close();
    const second = network.connect(1);
    assert.equal(second.maxBatchBytes, DEFAULT_MAX_PAYLOAD);
    await second.close();
  });
});

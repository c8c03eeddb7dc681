/**
 * Broker - the OS process: a SIGTERM that arrives while the broker is still starting does not kill
 * it half-way (Node's default action); it stops gracefully once started. (Found by the chaos suite,
 * seed 45: a broker restarted by the nemesis and stopped again a second later exited by signal.)
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runBrokerProcess } from "../broker/server/index.js";
import { brokerOptions, natsAndDir, type TestNats } from "./broker-fixtures.js";

describe("broker - process signals", () => {
  let env: TestNats;
  before(async () => (env = await natsAndDir()));
  after(async () => await env?.close());

  it("a SIGTERM during start-up stops the broker gracefully once it has started", { timeout: 60_000 }, async () => {
    const starting = runBrokerProcess(brokerOptions(env, 1, [1]), { exitOnStop: false });
    // process.emit calls the listeners without a real signal: with none installed, nothing happens
    // and the broker would run on (this test then times out).
    assert.ok(process.listenerCount("SIGTERM") > 0, "a SIGTERM handler is installed while the broker starts");
    process.emit("SIGTERM", "SIGTERM");
    const bp = await starting;
    await bp.stopped;
    assert.equal(process.listenerCount("SIGTERM"), 0, "no handler left behind");
  });
});

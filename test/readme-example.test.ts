/**
 * Client README - the library example in client/README.md runs as written (producer, a group
 * consumer, plain fetch) against a real 3-broker cluster, with only the NATS URL and cluster name
 * changed: the code is taken from the README itself, so the README cannot drift from the library.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { Broker } from "../broker/server/index.js";
import { CLUSTER, RawClient, eventually, natsAndDir, startBrokers, type TestNats } from "./broker-fixtures.js";

const README = fileURLToPath(new URL("../../client/README.md", import.meta.url));
/** Inside the package, so `import ... from "flotilla"` resolves to this package as for a user. */
const SCRIPT = fileURLToPath(new URL("./readme-example.tmp.mjs", import.meta.url));

function runNode(file: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.once("exit", (code) => resolve({ code, out, err }));
  });
}

describe("client README - the example runs as written", () => {
  let env: TestNats;
  let brokers: Broker[] = [];

  before(async () => {
    env = await natsAndDir();
    brokers = await startBrokers(env, [1, 2, 3]);
    const client = await RawClient.connect(env.server.url);
    await eventually("3 live brokers", async () => ((await client.admin("describeCluster", {})).brokers.filter((b) => b.alive && !b.fenced).length === 3 ? true : undefined));
    await client.close();
  });

  after(async () => {
    await rm(SCRIPT, { force: true });
    await Promise.all(brokers.map((b) => b.stop()));
    await env?.close();
  });

  it("produces, consumes with a group, fetches, and exits; a second run consumes only the new record", async () => {
    const example = /```js\n([\s\S]*?)```/.exec(await readFile(README, "utf8"))![1];
    assert.match(example, /flotilla\.consumer\(\{ groupId: "billing" \}\)/);
    await writeFile(SCRIPT, example.replace("nats://127.0.0.1:4222", env.server.url).replace('cluster: "flotilla"', `cluster: "${CLUSTER}"`));
    for (const run of [1, 2]) {
      const r = await runNode(SCRIPT);
      assert.equal(r.code, 0, r.err);
      const consumed = r.out.split("\n").filter((l) => l.startsWith("orders "));
      assert.equal(consumed.length, 1, `run ${run}: the group reads the one record not yet committed\n${r.out}`);
      assert.match(consumed[0], new RegExp(`^orders \\d ${run === 1 ? 0 : "\\d"}n k1 v1$`));
    }
  });
});

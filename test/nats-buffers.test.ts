/**
 * protocol/nats-buffers.ts against a real nats-server: what the patched parser and sender move
 * arrives byte for byte, and large payloads really go to the socket without a copy.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";
import { connect, headers, type NatsConnection } from "nats";
import { connectNats, type Requester } from "../client/connection.js";
import { cleanup, MAX_PAYLOAD_CONFIG, setup, type NatsServer } from "../ops/nats-server.js";
import { DIRECT_WRITE_BYTES } from "../protocol/nats-buffers.js";

let server: NatsServer;
let client: Requester;
let echo: NatsConnection;

before(async () => {
  server = await setup({ config: `${MAX_PAYLOAD_CONFIG}\n` });
  // The client library's own connect installs the patch.
  client = await connectNats({ servers: [server.url], clientId: "nats-buffers-test" });
  echo = await connect({ servers: server.url });
  echo.subscribe("echo", { callback: (_err, msg) => msg.respond(msg.data, msg.headers ? { headers: msg.headers } : undefined) });
  await echo.flush();
});

after(async () => {
  await client?.close();
  await echo?.close();
  await cleanup(server);
});

const SIZES = [0, 1, 100, DIRECT_WRITE_BYTES - 1, DIRECT_WRITE_BYTES, 65535, 65536, 65537, 900 * 1024, (8 << 20) - 4096];

function payloadOf(size: number): Uint8Array {
  return randomFillSync(new Uint8Array(size));
}

test("nats buffers - requests and replies of many sizes cross a real nats-server byte for byte", async () => {
  for (const size of SIZES) {
    const sent = payloadOf(size);
    const got = await client.request("echo", sent, 10_000);
    assert.ok(Buffer.from(got).equals(sent), `${size} bytes: the reply differs`);
  }
  // Many at once, so reads hold several messages and payloads start anywhere in them.
  const sent = SIZES.flatMap((size) => [payloadOf(size), payloadOf(size)]);
  const got = await Promise.all(sent.map((p) => client.request("echo", p, 10_000)));
  got.forEach((g, i) => assert.ok(Buffer.from(g).equals(sent[i]), `concurrent request ${i} (${sent[i].length} bytes): the reply differs`));
});

test("nats buffers - messages with headers (HMSG) keep headers and payload", async () => {
  const nc = await connect({ servers: server.url });
  try {
    for (const size of SIZES) {
      const h = headers();
      h.set("flotilla-size", String(size));
      const sent = payloadOf(size);
      const reply = await nc.request("echo", sent, { timeout: 10_000, headers: h });
      assert.equal(reply.headers?.get("flotilla-size"), String(size));
      assert.ok(Buffer.from(reply.data).equals(sent), `${size} bytes with headers: the reply differs`);
    }
  } finally {
    await nc.close();
  }
});

test("nats buffers - a large payload is written to the socket as it is, not copied first", async () => {
  const nc = await connect({ servers: server.url });
  try {
    const socket = (nc as unknown as { protocol: { transport: { socket: { write(chunk: Uint8Array, ...rest: unknown[]): boolean } } } }).protocol.transport.socket;
    const written: Uint8Array[] = [];
    const write = socket.write;
    socket.write = function (chunk, ...rest) {
      written.push(chunk);
      return write.call(this, chunk, ...rest);
    };
    const big = payloadOf(900 * 1024);
    const small = payloadOf(100);
    nc.publish("sink", big);
    nc.publish("sink", small);
    await nc.flush();
    assert.ok(
      written.some((w) => w.buffer === big.buffer && w.byteOffset === big.byteOffset && w.length === big.length),
      "the 900 KiB payload was copied before the write",
    );
    assert.ok(!written.some((w) => w.buffer === small.buffer), "a small payload is copied together with its protocol line");
  } finally {
    await nc.close();
  }
});

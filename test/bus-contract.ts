/**
 * The behaviour every MessageBus promises — core NATS's — written once and run against each
 * implementation (test/bus-in-process.test.ts, test/bus-nats.test.ts). The client and the broker's
 * retry paths rely on exactly these failures, so each is checked through the mapping they use.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BusMessage, MessageBus } from "../broker/transport/message-bus.js";
import { natsRequestError } from "../broker/server/request-errors.js";
import { fromNatsError } from "../client/errors.js";

export interface BusHarness {
  /** A new connection; subscriptions made on it before `ready(bus)` are in place after. */
  connect(): Promise<MessageBus>;
  /** Resolves once `bus`'s subscriptions reach the server (NATS: a flush). */
  ready(bus: MessageBus): Promise<void>;
  close(): Promise<void>;
}

export interface BusTarget {
  name: string;
  /** A fresh bus whose messages carry at most `maxPayload` bytes. */
  create(options: { maxPayload: number }): Promise<BusHarness>;
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/** Collects the messages a handler sees, resolving `until(n)` once there are n. */
class Inbox {
  readonly messages: BusMessage[] = [];
  private waiters: Array<() => void> = [];
  readonly handler = (m: BusMessage): void => {
    this.messages.push(m);
    for (const w of this.waiters) w();
  };
  async until(n: number): Promise<void> {
    while (this.messages.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}

export function describeBusContract(target: BusTarget): void {
  const withBus = async (body: (h: BusHarness) => Promise<void>, maxPayload = 1 << 20): Promise<void> => {
    const h = await target.create({ maxPayload });
    try {
      await body(h);
    } finally {
      await h.close();
    }
  };

  describe(`${target.name} bus - contract`, () => {
    it("answers a request with the responder's reply", () =>
      withBus(async (h) => {
        const [server, client] = await Promise.all([h.connect(), h.connect()]);
        server.subscribe("svc.echo", {}, (m) => m.respond(bytes(`${m.subject}:${text(m.data)}`)));
        await h.ready(server);
        assert.equal(text(await client.request("svc.echo", bytes("hi"), 5000)), "svc.echo:hi");
      }));

    it("gives a published message to every plain subscriber and to one member of each queue group", () =>
      withBus(async (h) => {
        const [a, b, c, d, pub] = await Promise.all([h.connect(), h.connect(), h.connect(), h.connect(), h.connect()]);
        const plain = new Inbox();
        // Both members of g1 write to one inbox: together they must see each message once.
        const group1 = new Inbox();
        const group2 = new Inbox();
        a.subscribe("work", {}, plain.handler);
        b.subscribe("work", { queue: "g1" }, group1.handler);
        c.subscribe("work", { queue: "g1" }, group1.handler);
        d.subscribe("work", { queue: "g2" }, group2.handler);
        await Promise.all([a, b, c, d].map((x) => h.ready(x)));
        const sent = Array.from({ length: 40 }, (_, i) => i);
        for (const i of sent) pub.publish("work", bytes(String(i)));
        await pub.flush();
        await Promise.all([plain.until(40), group1.until(40), group2.until(40)]);
        const numbers = (inbox: Inbox): number[] => inbox.messages.map((m) => Number(text(m.data)));
        assert.deepEqual(numbers(plain), sent, "every message, in publish order");
        assert.deepEqual(numbers(group2), sent);
        assert.deepEqual(numbers(group1).sort((x, y) => x - y), sent, "each message once in the queue group");
        // Nothing more arrives: a last message, once it is in, was preceded by everything else.
        pub.publish("work", bytes("40"));
        await Promise.all([plain.until(41), group1.until(41), group2.until(41)]);
        assert.deepEqual([plain, group1, group2].map((x) => x.messages.length), [41, 41, 41]);
      }));

    it("matches * to one token and a final > to the rest", () =>
      withBus(async (h) => {
        const [sub, pub] = await Promise.all([h.connect(), h.connect()]);
        const star = new Inbox();
        const rest = new Inbox();
        sub.subscribe("p.*.fetch", {}, star.handler);
        sub.subscribe("p.>", {}, rest.handler);
        await h.ready(sub);
        // The last subject matches both, so once it is in, everything before it has been routed.
        for (const s of ["p.t.fetch", "p.t.0.fetch", "p.t.produce", "p", "q.t.fetch", "p.end.fetch"]) pub.publish(s, bytes(s));
        await pub.flush();
        await Promise.all([star.until(2), rest.until(4)]);
        assert.deepEqual(star.messages.map((m) => m.subject), ["p.t.fetch", "p.end.fetch"]);
        assert.deepEqual(rest.messages.map((m) => m.subject), ["p.t.fetch", "p.t.0.fetch", "p.t.produce", "p.end.fetch"]);
      }));

    it("fails a request nobody subscribes to with no responders: NO_LEADER for clients, NOT_CONTROLLER for brokers", () =>
      withBus(async (h) => {
        const [server, client] = await Promise.all([h.connect(), h.connect()]);
        const sub = server.subscribe("p.t.0.produce", { queue: "leaders" }, (m) => m.respond(bytes("ok")));
        await h.ready(server);
        sub.unsubscribe();
        await h.ready(server);
        const e = await rejection(client.request("p.t.0.produce", bytes("x"), 5000));
        assert.equal((e as { code?: string }).code, "503");
        assert.equal(fromNatsError(e, { kind: "partition", subject: "p.t.0.produce", what: "produce" }, "c").code, "NO_LEADER");
        assert.equal(natsRequestError(e, "controller").code, "NOT_CONTROLLER");
      }));

    it("fails an unanswered request with a timeout: TIMEOUT for clients and brokers", () =>
      withBus(async (h) => {
        const [server, client] = await Promise.all([h.connect(), h.connect()]);
        server.subscribe("svc.silent", {}, () => undefined);
        await h.ready(server);
        const e = await rejection(client.request("svc.silent", bytes("x"), 100));
        assert.equal((e as { code?: string }).code, "TIMEOUT");
        assert.equal(fromNatsError(e, { kind: "cluster", subject: "svc.silent", what: "admin" }, "c").code, "TIMEOUT");
        assert.equal(natsRequestError(e, "controller").code, "TIMEOUT");
      }));

    it("refuses a message over the max payload, and serves the next one", () =>
      withBus(async (h) => {
        const [server, client] = await Promise.all([h.connect(), h.connect()]);
        server.subscribe("svc.echo", {}, (m) => m.respond(m.data));
        await h.ready(server);
        assert.equal(client.maxPayload, 4096);
        assert.throws(() => client.publish("svc.echo", new Uint8Array(8192)), (e: { code?: string }) => e.code === "MAX_PAYLOAD_EXCEEDED");
        const e = await rejection(client.request("svc.echo", new Uint8Array(8192), 5000));
        assert.equal((e as { code?: string }).code, "MAX_PAYLOAD_EXCEEDED");
        assert.equal((await client.request("svc.echo", new Uint8Array(100), 5000)).length, 100);
      }, 4096));

    it("is closed after close(): no more requests", () =>
      withBus(async (h) => {
        const client = await h.connect();
        assert.equal(client.isClosed(), false);
        await client.close();
        assert.equal(client.isClosed(), true);
        const e = await rejection(client.request("svc.echo", bytes("x"), 1000));
        assert.equal((e as { code?: string }).code, "CONNECTION_CLOSED");
      }));
  });
}

/**
 * Test-only fault injection into a live broker process (the chaos suite's network nemesis).
 *
 * Off unless the broker is started with `--fault-control` (`BrokerOptions.faultControl`); a
 * production broker never subscribes to the subject and its transport is the plain NatsTransport.
 * When on, the broker's Raft transport is wrapped in a FaultyTransport whose NetworkFaults this
 * broker's `faults.<id>` subject switches (fault-control-messages.ts). Only Raft traffic is
 * affected: client requests and controller heartbeats still flow, as a partition between broker
 * machines that NATS itself bridges would leave them. The subject is broker-only in ops' secure
 * NATS config, so even a broker started with the flag cannot be driven by a client account.
 *
 * A partition must be sent to every broker involved: each checks its own sends and receipts.
 */
import type { Logger } from "pino";
import { FlotillaError } from "../../protocol/errors.js";
import { subjects } from "../../protocol/subjects.js";
import { FaultyTransport, NetworkFaults, type BusMessage, type BusSubscription, type MessageBus, type Transport } from "../transport/index.js";
import { decodeFaultCommand, encodeFaultMessage, type FaultCommand } from "./fault-control-messages.js";

export class FaultControl {
  readonly transport: FaultyTransport;
  private readonly faults = new NetworkFaults();
  private readonly subscription: BusSubscription;
  private readonly logger: Logger;

  constructor(o: { inner: Transport; bus: MessageBus; cluster: string; brokerId: number; logger: Logger }) {
    this.transport = new FaultyTransport(o.inner, this.faults);
    this.logger = o.logger.child({ component: "fault-control" });
    this.subscription = o.bus.subscribe(subjects.faultControl(o.cluster, o.brokerId), {}, (msg) => this.handle(msg));
    this.logger.warn("fault control is on: this broker's Raft traffic obeys fault-injection commands (tests only)");
  }

  close(): void {
    this.subscription.unsubscribe();
  }

  private handle(msg: BusMessage): void {
    let reply: Uint8Array;
    try {
      const command = decodeFaultCommand(msg.data);
      this.apply(command);
      this.logger.info({ command }, "fault injected");
      reply = encodeFaultMessage({ stats: this.transport.faultStats() });
    } catch (e) {
      const error = e instanceof FlotillaError ? e : new FlotillaError("INVALID_REQUEST", `fault-control: ${(e as Error).message}`);
      reply = encodeFaultMessage({ error: error.toWire() });
    }
    msg.respond(reply);
  }

  private apply(c: FaultCommand): void {
    switch (c.type) {
      case "partition":
        for (let i = 0; i < c.sides.length; i++) for (let j = i + 1; j < c.sides.length; j++) this.faults.partition(c.sides[i], c.sides[j]);
        return;
      case "blockOneWay":
        this.faults.blockOneWay(c.from, c.to);
        return;
      case "degrade":
        this.faults.set({ dropRate: c.dropRate, duplicateRate: c.duplicateRate, delayMs: c.delayMs ?? undefined });
        return;
      case "reset":
        this.faults.reset();
        return;
      case "stats":
        return;
    }
  }
}

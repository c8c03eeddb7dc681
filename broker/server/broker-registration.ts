/**
 * Registration and heartbeats: every broker registers with the controller leader (a fresh
 * incarnation per process start) and heartbeats to it, reporting the partitions it leads with their
 * term, high watermark, log start offset and in-sync replicas (only what changed since the last
 * report the controller confirmed: led-report.ts). The reply says whether the controller fences
 * this broker, or that it must register again.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { MetadataImage } from "../controller/index.js";
import type { ControllerClient } from "./controller-client.js";
import { replyChecks, type LedPartition, type LeaderMoveOrder } from "./controller-messages.js";
import { LedReporter } from "./led-report.js";
import type { MetadataFollower } from "./metadata-follower.js";
import { sleep } from "./sleep.js";

export interface BrokerRegistrationOptions {
  brokerId: number;
  controller: ControllerClient;
  metadata: MetadataFollower;
  /** The partitions this broker leads, as a heartbeat reports them. */
  ledPartitions: () => LedPartition[];
  /** Leadership moves the controller asks for in a heartbeat reply (leader transfer, rebalance). */
  onLeaderMoves: (moves: LeaderMoveOrder[]) => void;
  heartbeatMs: number;
  sessionTimeoutMs: number;
  logger: Logger;
  stopping: () => boolean;
}

export class BrokerRegistration {
  private readonly incarnation = randomBytes(16).toString("hex");
  /** The broker epoch the controller gave this registration (0: not registered). */
  private epoch = 0;
  private registeredAt = 0;
  private fenced = true;
  private readonly reporter = new LedReporter();

  constructor(private readonly options: BrokerRegistrationOptions) {}

  get registered(): boolean {
    return this.epoch !== 0;
  }

  /**
   * Whether the controller fenced this broker (it stopped hearing our heartbeats). Not in the first
   * session after registering, when every broker starts fenced until it has caught up with the
   * metadata log.
   */
  fencedByController(image: MetadataImage, now: number): boolean {
    const me = image.broker(this.options.brokerId);
    return this.epoch !== 0 && me?.epoch === this.epoch && me.fenced && now - this.registeredAt > this.options.sessionTimeoutMs;
  }

  /** Registers if not registered yet, then sends one heartbeat. */
  async heartbeat(shuttingDown: boolean): Promise<void> {
    const { brokerId, controller, logger } = this.options;
    if (this.epoch === 0) {
      const r = await controller.call({ type: "register", brokerId, incarnation: this.incarnation }, replyChecks.register, 15_000);
      this.epoch = r.epoch;
      this.registeredAt = Date.now();
      logger.info({ epoch: r.epoch }, "registered with the controller");
    }
    const report = this.reporter.next(this.options.ledPartitions());
    let reply: Awaited<ReturnType<typeof replyChecks.heartbeat>>;
    try {
      reply = await controller.call({ type: "heartbeat", brokerId, brokerEpoch: this.epoch, appliedIndex: this.options.metadata.appliedIndex, shuttingDown, ...report }, replyChecks.heartbeat);
    } catch (err) {
      this.reporter.onFailure();
      throw err;
    }
    if (reply.type === "register") {
      this.reporter.onReply(undefined);
      logger.warn({ reason: reply.reason }, "the controller asks this broker to register again");
      this.epoch = 0;
      return;
    }
    this.reporter.onReply(reply.ledSeq);
    if (reply.fenced !== this.fenced) {
      this.fenced = reply.fenced;
      logger.info({ fenced: reply.fenced }, reply.fenced ? "fenced by the controller" : "unfenced by the controller");
    }
    if (reply.moves.length > 0) this.options.onLeaderMoves(reply.moves);
  }

  /** Heartbeats every `heartbeatMs` until the broker stops. */
  async run(): Promise<void> {
    while (!this.options.stopping()) {
      try {
        await this.heartbeat(false);
      } catch (err) {
        if (this.options.stopping()) return;
        this.options.logger.debug({ err }, "heartbeat failed");
      }
      await sleep(this.options.heartbeatMs);
    }
  }
}

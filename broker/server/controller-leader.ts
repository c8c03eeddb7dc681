/**
 * The controller leader role, held while this broker's metadata replica leads: serves the
 * `controller` subject (register, heartbeat, forwarded topic create/delete, the runtime lookup),
 * proposes records by producing to its own replica with acks=all, and answers from the ApplyResult
 * once it has applied the record. A BrokerLiveness per term of leadership fences brokers whose
 * heartbeats stop and unfences them when they are back.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { FlotillaError } from "../../protocol/errors.js";
import { encodeRecordBatch } from "../../protocol/record-batch.js";
import { subjects } from "../../protocol/subjects.js";
import {
  BrokerLiveness,
  encodeMetadataRecord,
  planCreateTopic,
  planDeleteTopic,
  planRegisterBroker,
  planReassignmentReport,
  type ApplyResult,
  type MetadataRecord,
} from "../controller/index.js";
import type { PartitionReplica } from "../partition/index.js";
import { decodeRequest, requestLimits } from "../../protocol/requests.js";
import type { BusMessage, BusSubscription, MessageBus } from "../transport/index.js";
import { answerAdminWrite, type ControllerAdminContext } from "./controller-admin.js";
import { decodeControllerRequest, encodeControllerMessage, type ControllerRequest } from "./controller-messages.js";
import { LedReports } from "./led-report.js";
import { LeaderMoveOrders } from "./leader-move-orders.js";
import type { MetadataFollower } from "./metadata-follower.js";
import type { BrokerMetrics } from "./metrics.js";
import { asFlotillaError } from "./request-errors.js";
import { runtimeReply } from "./runtime-lookup.js";

/** A forwarded admin write was already checked against the answering broker's NATS limit; this only bounds the decoder. */
const FORWARDED_LIMITS = requestLimits({ maxMessageBytes: 8 << 20, maxBatchBytes: 8 << 20 });

export interface ControllerLeaderOptions {
  brokerId: number;
  bus: MessageBus;
  cluster: string;
  sessionTimeoutMs: number;
  /** How often liveness is decided (fence / unfence proposals). */
  heartbeatMs: number;
  logger: Logger;
  metrics: BrokerMetrics;
  /** This broker's replica of the metadata log: records are proposed to it. */
  replica: PartitionReplica;
  metadata: MetadataFollower;
  stopping: () => boolean;
}

export class ControllerLeader {
  /** Defined exactly while this broker is the controller leader. */
  private liveness: BrokerLiveness | undefined;
  private sub: BusSubscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private deciding = false;
  private readonly ledReports = new LedReports();
  /** Leadership moves waiting for the leading broker's next heartbeat. */
  private readonly leaderMoves = new LeaderMoveOrders();

  constructor(private readonly options: ControllerLeaderOptions) {}

  get isLeader(): boolean {
    return this.liveness !== undefined;
  }

  /** Takes up or gives up the role as the metadata replica gains or loses leadership. */
  onLeadership(isLeader: boolean): void {
    if (isLeader && !this.liveness && !this.options.stopping()) {
      this.liveness = new BrokerLiveness(this.options.sessionTimeoutMs, Date.now());
      this.ledReports.clear();
      this.leaderMoves.clear();
      this.sub = this.options.bus.subscribe(subjects.controller(this.options.cluster), {}, (msg) => void this.handle(msg));
      this.timer = setInterval(() => void this.decideLiveness(), this.options.heartbeatMs);
      this.options.logger.info({ appliedIndex: this.options.metadata.appliedIndex }, "became the controller leader");
    } else if (!isLeader && this.liveness) {
      this.liveness = undefined;
      this.sub?.unsubscribe();
      this.sub = undefined;
      clearInterval(this.timer);
      this.timer = undefined;
      this.options.logger.info("no longer the controller leader");
    }
  }

  /** Stopping: no more liveness rounds or controller requests. */
  close(): void {
    clearInterval(this.timer);
    this.sub?.unsubscribe();
  }

  /**
   * Proposes one metadata record (acks=all on the local metadata replica) and resolves with its
   * index and ApplyResult once applied here.
   */
  private async propose(record: MetadataRecord): Promise<{ index: number; result: ApplyResult }> {
    if (!this.liveness) throw new FlotillaError("NOT_CONTROLLER", `broker ${this.options.brokerId} is not the controller leader`);
    const batch = encodeRecordBatch([{ key: null, value: encodeMetadataRecord(record) }]);
    const { baseOffset } = await this.options.replica.produce({ batch, batchId: randomBytes(16), acks: "all" });
    const index = Number(baseOffset) + 1;
    if (!(await this.options.metadata.waitApplied(index, 10_000))) throw new FlotillaError("TIMEOUT", `metadata index ${index} committed but not applied within 10 s`);
    const result = this.options.metadata.result(index);
    if (!result) throw new FlotillaError("INTERNAL", `metadata index ${index} applied but its result was forgotten`);
    return { index, result };
  }

  private adminContext(liveness: BrokerLiveness): ControllerAdminContext {
    const { metadata, brokerId } = this.options;
    return {
      get image() {
        return metadata.image;
      },
      propose: (record) => this.propose(record),
      leaderOf: (topic, partition) => {
        const led = runtimeReply(metadata.image, liveness, this.ledReports, brokerId, Date.now()).partitions;
        return led.find(([t, p]) => t === topic && p === partition)?.[2];
      },
      orderMove: (leader, move) => this.leaderMoves.order(leader, move),
    };
  }

  private async decideLiveness(): Promise<void> {
    const liveness = this.liveness;
    if (!liveness || this.deciding || this.options.stopping()) return;
    this.deciding = true;
    try {
      for (const record of liveness.decide(this.options.metadata.image, Date.now())) {
        const { result } = await this.propose(record);
        this.options.logger.info({ record, rejected: result.rejected }, record.type === "fenceBroker" ? "fenced a broker" : "unfenced a broker");
      }
    } catch (err) {
      this.options.logger.debug({ err }, "liveness round failed");
    } finally {
      this.deciding = false;
    }
  }

  private async handle(msg: BusMessage): Promise<void> {
    const started = process.hrtime.bigint();
    let type = "controller";
    try {
      const req = decodeControllerRequest(msg.data);
      type = `controller.${req.type}`;
      msg.respond(encodeControllerMessage(await this.answer(req)));
      this.options.metrics.observe(type, "ok", started);
    } catch (e) {
      const fe = asFlotillaError(e);
      if (fe.code === "INTERNAL") this.options.logger.error({ err: e }, "controller request failed");
      msg.respond(encodeControllerMessage({ error: fe.toWire() }));
      this.options.metrics.observe(type, fe.code, started);
    }
  }

  private async answer(req: ControllerRequest): Promise<object> {
    const liveness = this.liveness;
    if (!liveness) throw new FlotillaError("NOT_CONTROLLER", `broker ${this.options.brokerId} is not the controller leader`);
    const { metadata, logger } = this.options;
    switch (req.type) {
      case "register": {
        const record = planRegisterBroker(metadata.image, { brokerId: req.brokerId, incarnation: req.incarnation });
        if (record) {
          const { result } = await this.propose(record);
          if (result.rejected) throw new FlotillaError(result.rejected.code, result.rejected.reason);
        }
        const b = metadata.image.broker(req.brokerId);
        if (!b || b.incarnation !== req.incarnation) throw new FlotillaError("NOT_CONTROLLER", `registration of broker ${req.brokerId} was overtaken; register again`);
        logger.info({ brokerId: req.brokerId, epoch: b.epoch }, "broker registered");
        return { epoch: b.epoch };
      }
      case "heartbeat": {
        const reply = liveness.heartbeat(metadata.image, req, Date.now());
        if (reply.type !== "accepted") return reply;
        const ledSeq = this.ledReports.apply(req.brokerId, req);
        const moves = this.leaderMoves.take(req.brokerId);
        return { ...reply, ...(moves.length > 0 && { moves }), ...(ledSeq !== undefined && { ledSeq }) };
      }
      case "createTopic": {
        const record = planCreateTopic(
          metadata.image,
          { topic: req.topic, partitions: req.partitions, replicationFactor: req.replicationFactor, configs: req.configs },
          randomUUID(),
        );
        const { index, result } = await this.propose(record);
        if (result.rejected) throw new FlotillaError(result.rejected.code, result.rejected.reason);
        logger.info({ topic: req.topic, partitions: req.partitions, replicationFactor: req.replicationFactor }, "topic created");
        return { appliedIndex: index };
      }
      case "deleteTopic": {
        const { index, result } = await this.propose(planDeleteTopic(metadata.image, req.topic));
        if (result.rejected) throw new FlotillaError(result.rejected.code, result.rejected.reason);
        logger.info({ topic: req.topic }, "topic deleted");
        return { appliedIndex: index };
      }
      case "runtime":
        return runtimeReply(metadata.image, liveness, this.ledReports, this.options.brokerId, Date.now());
      case "adminWrite":
        return answerAdminWrite(decodeRequest(req.request, FORWARDED_LIMITS), this.adminContext(liveness));
      case "reassignmentReport": {
        const record = planReassignmentReport(metadata.image, req);
        if (!record) return { appliedIndex: metadata.appliedIndex };
        const { index, result } = await this.propose(record);
        if (result.rejected) throw new FlotillaError(result.rejected.code, result.rejected.reason);
        logger.info({ topic: req.topic, partition: req.partition, step: req.step }, req.step === "done" ? "reassignment completed" : "reassignment progressed");
        return { appliedIndex: index };
      }
    }
  }
}

/**
 * Client requests on the `admin` and `metadata` subjects, served by every broker (queue group):
 * reads answered from the local image, writes forwarded to the controller leader and answered once
 * applied here, so a describe right after a create sees the topic. A group request that reaches
 * this subject means its coordinator did not answer: `__consumer_offsets` is created if missing
 * (that is how it comes to exist) and the answer is NOT_COORDINATOR, which the client retries.
 */
import type { Logger } from "pino";
import { FlotillaError } from "../../protocol/errors.js";
import { CONSUMER_OFFSETS_PARTITIONS, CONSUMER_OFFSETS_REPLICATION, CONSUMER_OFFSETS_TOPIC } from "../../protocol/groups.js";
import { decodeRequest, encodeErrorResponse, encodeResponse, type AnyRequest, type PartitionMetadata, type RequestLimits } from "../../protocol/requests.js";
import { REASSIGNMENT_PLAN_VERSION, describeCluster, describeTopic, planGenerateReassignment, verifyReassignment, type ClusterRuntime } from "../controller/index.js";
import type { BusMessage } from "../transport/index.js";
import type { ControllerClient } from "./controller-client.js";
import { replyChecks } from "./controller-messages.js";
import type { LocalPartition } from "./local-partition.js";
import type { MetadataFollower } from "./metadata-follower.js";
import type { BrokerMetrics } from "./metrics.js";
import { clientError } from "./request-errors.js";
import { lookupRuntime } from "./runtime-lookup.js";

export interface AdminRequestsOptions {
  brokerId: number;
  limits: RequestLimits;
  metrics: BrokerMetrics;
  logger: Logger;
  metadata: MetadataFollower;
  controller: ControllerClient;
  /** The data replicas this broker hosts (their leaders and high watermarks are the freshest). */
  localReplicas: () => Iterable<LocalPartition>;
  /** Brokers the cluster is known to have before any registers: the `--controllers` count. */
  knownBrokers: number;
}

export class AdminRequests {
  constructor(private readonly options: AdminRequestsOptions) {}

  async handle(msg: BusMessage): Promise<void> {
    const started = process.hrtime.bigint();
    let type = "unknown";
    try {
      const req = decodeRequest(msg.data, this.options.limits);
      type = req.type;
      msg.respond(await this.answer(req, msg.data));
      this.options.metrics.observe(type, "ok", started);
    } catch (e) {
      const fe = clientError(this.options.logger, e, type);
      msg.respond(encodeErrorResponse(fe));
      this.options.metrics.observe(type, fe.code, started);
    }
  }

  private async answer(req: AnyRequest, bytes: Uint8Array): Promise<Uint8Array> {
    const { limits, metadata, controller } = this.options;
    switch (req.type) {
      case "reassignPartitions":
      case "cancelReassignment":
      case "transferLeader":
      case "rebalanceLeaders":
      case "decommissionBroker": {
        // The controller leader decodes the client's bytes itself and answers the client's way.
        const { appliedIndex, response } = await controller.call({ type: "adminWrite", request: bytes }, replyChecks.adminWrite, 15_000);
        await metadata.waitApplied(appliedIndex, 5000);
        return response;
      }
      case "generateReassignment": {
        const plan = planGenerateReassignment(metadata.image, req.request.topics, req.request.brokers);
        return encodeResponse("generateReassignment", { partitions: plan.partitions.map((p) => ({ ...p, replicas: [...p.replicas] })) }, limits);
      }
      case "reassignmentStatus": {
        const image = metadata.image;
        const { partitions } = verifyReassignment(image, { version: REASSIGNMENT_PLAN_VERSION, partitions: req.request.partitions });
        const status = partitions.map((p) => {
          const state = image.topic(p.topic)!.partitions[p.partition];
          const moving = state.reassignment;
          return { topic: p.topic, partition: p.partition, status: p.status, replicas: [...state.replicas], ...(moving && { target: [...moving.target], step: moving.phase }) };
        });
        return encodeResponse("reassignmentStatus", { partitions: status }, limits);
      }
      case "createTopic": {
        const r = req.request;
        const { appliedIndex } = await controller.call(
          { type: "createTopic", topic: r.topic, partitions: r.partitions, replicationFactor: r.replicationFactor, configs: r.configs },
          replyChecks.write,
          15_000,
        );
        // Read your writes: a describe sent to this broker next sees the topic.
        await metadata.waitApplied(appliedIndex, 5000);
        return encodeResponse("createTopic", {}, limits);
      }
      case "deleteTopic": {
        const { appliedIndex } = await controller.call({ type: "deleteTopic", topic: req.request.topic }, replyChecks.write, 15_000);
        await metadata.waitApplied(appliedIndex, 5000);
        return encodeResponse("deleteTopic", {}, limits);
      }
      case "listTopics":
        return encodeResponse("listTopics", { topics: metadata.image.topics().map((t) => t.name) }, limits);
      case "describeTopic": {
        const d = describeTopic(metadata.image, req.request.topic, await this.runtime());
        return encodeResponse("describeTopic", { description: { topic: d.topic, configs: d.configs, partitions: d.partitions.map(wirePartition) } }, limits);
      }
      case "describeCluster": {
        const d = describeCluster(metadata.image, await this.runtime());
        return encodeResponse(
          "describeCluster",
          {
            ...(d.controllerLeader !== undefined && { controllerLeader: d.controllerLeader }),
            brokers: d.brokers.map((b) => ({ id: b.id, alive: b.alive, fenced: b.fenced, leaders: b.leaders, replicas: b.replicas })),
            partitions: d.partitions,
            underReplicated: d.underReplicated,
          },
          limits,
        );
      }
      case "metadata": {
        const rt = await this.runtime();
        const image = metadata.image;
        const names = req.request.topics ?? image.topics().map((t) => t.name);
        return encodeResponse(
          "metadata",
          {
            ...(rt.controllerLeader !== undefined && { controllerLeader: rt.controllerLeader }),
            brokers: image.brokers().map((b) => ({ id: b.id, alive: rt.isAlive(b.id), fenced: b.fenced })),
            topics: names.map((name) => {
              if (!image.topic(name)) {
                return { topic: name, error: new FlotillaError("UNKNOWN_TOPIC", `topic ${name} does not exist`).toWire(), partitions: [] };
              }
              return { topic: name, partitions: describeTopic(image, name, rt).partitions.map(wirePartition) };
            }),
          },
          limits,
        );
      }
      case "produce":
      case "fetch":
        throw new FlotillaError("INVALID_REQUEST", `${req.type} requests go to the partition's subject (p.<topic>.<partition>.${req.type}), not to admin/metadata`);
      case "joinGroup":
      case "heartbeat":
      case "leaveGroup":
      case "commitOffsets":
      case "fetchOffsets":
      case "listGroups":
      case "describeGroup":
      case "resetOffsets":
        await this.ensureOffsetsTopic();
        throw new FlotillaError("NOT_COORDINATOR", `${req.type}: the group's coordinator is not serving yet (${CONSUMER_OFFSETS_TOPIC} is electing a leader or loading); retry`);
    }
  }

  private async ensureOffsetsTopic(): Promise<void> {
    const { metadata, controller, knownBrokers } = this.options;
    if (metadata.image.topic(CONSUMER_OFFSETS_TOPIC)) return;
    // Like Kafka's offsets.topic.replication.factor: the offsets are as precious as the data, so the
    // topic waits for enough live brokers rather than being created with fewer replicas while the
    // cluster starts. A cluster of one or two brokers gets that many.
    const replicationFactor = Math.min(CONSUMER_OFFSETS_REPLICATION, Math.max(knownBrokers, metadata.image.brokers().length));
    const live = metadata.image.unfencedBrokers().length;
    if (live < replicationFactor) {
      throw new FlotillaError("NOT_COORDINATOR", `${CONSUMER_OFFSETS_TOPIC} needs ${replicationFactor} live brokers to be created and ${live} are up; retry`);
    }
    try {
      const { appliedIndex } = await controller.call(
        { type: "createTopic", topic: CONSUMER_OFFSETS_TOPIC, partitions: CONSUMER_OFFSETS_PARTITIONS, replicationFactor, configs: {} },
        replyChecks.write,
        15_000,
      );
      await metadata.waitApplied(appliedIndex, 5000);
      this.options.logger.info({ replicationFactor }, `created ${CONSUMER_OFFSETS_TOPIC}`);
    } catch (e) {
      if (!(e instanceof FlotillaError && e.code === "TOPIC_EXISTS")) throw e;
    }
  }

  private runtime(): Promise<ClusterRuntime> {
    return lookupRuntime(this.options.controller, this.options.brokerId, this.options.localReplicas, this.options.logger);
  }
}

function wirePartition(p: { partition: number; leader?: number; replicas: number[]; isr: number[]; highWatermark: bigint; logStartOffset: bigint }): PartitionMetadata {
  return {
    partition: p.partition,
    ...(p.leader !== undefined && { leader: p.leader }),
    replicas: p.replicas,
    isr: p.isr,
    highWatermark: p.highWatermark,
    logStartOffset: p.logStartOffset < p.highWatermark ? p.logStartOffset : p.highWatermark,
  };
}

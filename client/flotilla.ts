/**
 * `new Flotilla({ servers, cluster, clientId })`: the entry point of the client library, KafkaJS's
 * shape. It holds one NATS connection, shared by the admin clients, producers and consumers it makes (each
 * `connect()` takes a hold on it, each `disconnect()` lets go) and by plain `fetch`es, which hold it
 * until `flotilla.disconnect()`.
 */
import { FlotillaError } from "../protocol/errors.js";
import { clusterNameProblem } from "../protocol/subjects.js";
import { Admin } from "./admin.js";
import { SharedConnection, type RequesterFactory } from "./connection.js";
import type { ClientContext } from "./context.js";
import { Consumer } from "./consumer.js";
import { fetchPartition } from "./fetch.js";
import { ReplicaChoice } from "./replica-choice.js";
import { Producer } from "./producer.js";
import { DEFAULT_RETRY, realRetryEnv, retryOptionsProblems, type RetryEnv, type RetryOptions } from "./retry.js";
import { Rpc } from "./rpc.js";
import type { ConsumerConfig, FetchOptions, FetchResult, ProducerConfig } from "./types.js";

export interface FlotillaConfig {
  /** NATS server URL(s). Default nats://127.0.0.1:4222. */
  servers?: string | string[];
  /** The cluster name (the brokers' --cluster). Default "flotilla". */
  cluster?: string;
  /** Names this client's NATS connection. Default "flotilla-client". */
  clientId?: string;
  /** NATS user and password (the `client` user of ops' secure config). */
  user?: string;
  pass?: string;
  /** Timeout of admin and metadata requests (fetch waits maxWaitMs on top). Default 30 s. */
  requestTimeoutMs?: number;
  /** Retry policy for every request (a producer may override it). */
  retry?: Partial<RetryOptions>;
  /**
   * Advanced: how to reach the cluster (default: a NATS connection to `servers`). Unit tests hand
   * in fakes; `flotilla/testing` hands in its in-process bus.
   */
  connect?: RequesterFactory;
  /** For tests: sleep and randomness of the retry loop. */
  retryEnv?: RetryEnv;
}

export const DEFAULT_SERVERS = "nats://127.0.0.1:4222";
export const DEFAULT_CLUSTER = "flotilla";

export class Flotilla {
  private readonly ctx: ClientContext;
  private readonly fetchHold = {};
  private fetchRpc: Promise<Rpc> | undefined;
  /** Picks the replica of a follower fetch. */
  private readonly replicaChoice: ReplicaChoice;

  constructor(config: FlotillaConfig = {}) {
    const problems: string[] = [];
    const servers = config.servers ?? DEFAULT_SERVERS;
    const list = Array.isArray(servers) ? servers : [servers];
    if (list.length === 0 || list.some((s) => typeof s !== "string" || s.length === 0)) problems.push("servers must be a NATS URL or a non-empty list of them");
    const cluster = config.cluster ?? DEFAULT_CLUSTER;
    const cp = typeof cluster === "string" ? clusterNameProblem(cluster) : "cluster must be a string";
    if (cp) problems.push(cp);
    const clientId = config.clientId ?? "flotilla-client";
    if (typeof clientId !== "string" || clientId.length === 0) problems.push("clientId must be a non-empty string");
    if ((config.user === undefined) !== (config.pass === undefined)) problems.push("user and pass go together: give both or neither");
    const requestTimeoutMs = config.requestTimeoutMs ?? 30_000;
    if (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs < 1) problems.push(`requestTimeoutMs ${String(requestTimeoutMs)} must be an integer ≥ 1`);
    problems.push(...retryOptionsProblems(config.retry ?? {}));
    if (problems.length > 0) throw new FlotillaError("INVALID_CONFIG", `Flotilla config: ${problems.join("; ")}`);
    this.ctx = {
      cluster,
      clientId,
      connection: new SharedConnection(
        { servers: list, clientId, ...(config.user !== undefined && { user: config.user, pass: config.pass }) },
        config.connect,
      ),
      retry: { ...DEFAULT_RETRY, ...config.retry },
      requestTimeoutMs,
      env: config.retryEnv ?? realRetryEnv,
    };
    const env = this.ctx.env;
    this.replicaChoice = new ReplicaChoice(() => env.random(), requestTimeoutMs);
  }

  get cluster(): string {
    return this.ctx.cluster;
  }

  admin(): Admin {
    return new Admin(this.ctx);
  }

  producer(config: ProducerConfig = {}): Producer {
    return new Producer(this.ctx, config);
  }

  /** Records of one partition from `offset` (no group). Connects on first use; `disconnect()` ends it. */
  async fetch(options: FetchOptions): Promise<FetchResult> {
    this.fetchRpc ??= this.ctx.connection.acquire(this.fetchHold).then((r) => new Rpc(r, this.ctx.cluster));
    let rpc: Rpc;
    try {
      rpc = await this.fetchRpc;
    } catch (e) {
      this.fetchRpc = undefined;
      throw e;
    }
    return fetchPartition(this.ctx, rpc, options, this.replicaChoice);
  }

  /** A member of consumer group `groupId` (partitions assigned by the brokers, offsets committed to them). */
  consumer(config: ConsumerConfig): Consumer {
    return new Consumer(this.ctx, config);
  }

  /** Lets go of the connection held for `fetch`, and closes it when no admin or producer holds it. */
  async disconnect(): Promise<void> {
    if (!this.fetchRpc) return;
    this.fetchRpc = undefined;
    await this.ctx.connection.release(this.fetchHold);
  }
}

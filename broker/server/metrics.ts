/**
 * A broker's Prometheus metrics: one prom-client Registry per broker (two brokers in one process
 * never collide; the global registry is never touched), `flotilla_` names in base units.
 *
 * Label cardinality: request metrics by request type and outcome (a handful each); per-partition
 * gauges (term, commit lag) carry topic and partition, one series per hosted replica, computed at
 * scrape time from the replicas themselves; follower lag is reported by leaders only, one series per
 * follower of each led partition; leader changes are one counter per broker.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface ReplicaGaugeSource {
  /** Every hosted replica's figures, read at scrape time. */
  replicas(): Array<{
    topic: string;
    partition: number;
    term: number;
    commit: number;
    applied: number;
    isLeader: boolean;
    /** Members of the group (voters and learners). */
    replicas: number;
    /** Leader only: the in-sync replicas and each follower's lag. */
    isr?: number[];
    followers?: Array<{ id: number; lagEntries: number; inSync: boolean }>;
  }>;
  metadataAppliedIndex(): number;
  transport(): { bytesSent: number; bytesReceived: number; messagesSent: number; messagesReceived: number; decodeFailures: number };
}

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"type" | "outcome">;
  readonly requestSeconds: Histogram<"type">;
  readonly bytesIn: Counter<"type">;
  readonly bytesOut: Counter<"type">;
  readonly fsyncSeconds: Histogram;
  readonly fsyncBatchFiles: Histogram;
  readonly fsyncBatchRequests: Histogram;
  readonly leaderChanges: Counter;
  private server: Server | undefined;

  constructor(brokerId: number, source: ReplicaGaugeSource) {
    this.registry.setDefaultLabels({ broker: String(brokerId) });
    collectDefaultMetrics({ register: this.registry, prefix: "flotilla_process_" });
    const registers = [this.registry];
    this.requests = new Counter({
      name: "flotilla_requests_total",
      help: "Client and controller requests handled, by request type and outcome (ok or an error code).",
      labelNames: ["type", "outcome"],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: "flotilla_request_duration_seconds",
      help: "Time from receiving a request to sending its answer.",
      labelNames: ["type"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.bytesIn = new Counter({ name: "flotilla_bytes_in_total", help: "Record batch bytes received from producers.", labelNames: ["type"], registers });
    this.bytesOut = new Counter({ name: "flotilla_bytes_out_total", help: "Record batch bytes sent to consumers.", labelNames: ["type"], registers });
    this.fsyncSeconds = new Histogram({
      name: "flotilla_fsync_cycle_duration_seconds",
      help: "Duration of one group-commit flush cycle (fdatasync of every dirty file).",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.fsyncBatchFiles = new Histogram({
      name: "flotilla_fsync_cycle_files",
      help: "Files synced per flush cycle.",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
      registers,
    });
    this.fsyncBatchRequests = new Histogram({
      name: "flotilla_fsync_cycle_requests",
      help: "Write batches made durable per flush cycle (the group-commit batch size).",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
      registers,
    });
    this.leaderChanges = new Counter({ name: "flotilla_raft_leader_changes_total", help: "Leader changes seen by this broker's replicas.", registers });
    new Gauge({
      name: "flotilla_raft_term",
      help: "Current Raft term per hosted replica.",
      labelNames: ["topic", "partition"],
      registers,
      collect() {
        this.reset();
        for (const r of source.replicas()) this.set({ topic: r.topic, partition: String(r.partition) }, r.term);
      },
    });
    new Gauge({
      name: "flotilla_raft_commit_lag_entries",
      help: "Committed Raft entries not yet applied, per hosted replica.",
      labelNames: ["topic", "partition"],
      registers,
      collect() {
        this.reset();
        for (const r of source.replicas()) this.set({ topic: r.topic, partition: String(r.partition) }, Math.max(0, r.commit - r.applied));
      },
    });
    new Gauge({
      name: "flotilla_follower_lag_entries",
      help: "Raft entries a follower's log is behind its leader's, per partition this broker leads and follower.",
      labelNames: ["topic", "partition", "follower"],
      registers,
      collect() {
        this.reset();
        for (const r of source.replicas()) {
          for (const f of r.followers ?? []) this.set({ topic: r.topic, partition: String(r.partition), follower: String(f.id) }, f.lagEntries);
        }
      },
    });
    new Gauge({
      name: "flotilla_partition_in_sync_replicas",
      help: "Replicas in sync with the leader (the leader included), per partition this broker leads.",
      labelNames: ["topic", "partition"],
      registers,
      collect() {
        this.reset();
        for (const r of source.replicas()) if (r.isr) this.set({ topic: r.topic, partition: String(r.partition) }, r.isr.length);
      },
    });
    new Gauge({
      name: "flotilla_under_replicated_partitions",
      help: "Partitions this broker leads with fewer replicas in sync than members.",
      registers,
      collect() {
        this.set(source.replicas().filter((r) => r.isr && r.isr.length < r.replicas).length);
      },
    });
    new Gauge({
      name: "flotilla_partitions",
      help: "Partition replicas hosted here, by role.",
      labelNames: ["role"],
      registers,
      collect() {
        let leaders = 0;
        let followers = 0;
        for (const r of source.replicas()) {
          if (r.isLeader) leaders++;
          else followers++;
        }
        this.set({ role: "leader" }, leaders);
        this.set({ role: "follower" }, followers);
      },
    });
    new Gauge({
      name: "flotilla_metadata_applied_index",
      help: "The last metadata log index this broker applied to its image.",
      registers,
      collect() {
        this.set(source.metadataAppliedIndex());
      },
    });
    const transportGauge = (name: string, help: string, pick: (t: ReturnType<ReplicaGaugeSource["transport"]>) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(pick(source.transport()));
        },
      });
    };
    transportGauge("flotilla_raft_transport_sent_bytes_total", "Raft bytes published to other brokers.", (t) => t.bytesSent);
    transportGauge("flotilla_raft_transport_received_bytes_total", "Raft bytes received from other brokers.", (t) => t.bytesReceived);
    transportGauge("flotilla_raft_transport_sent_messages_total", "Raft messages sent (before coalescing).", (t) => t.messagesSent);
    transportGauge("flotilla_raft_transport_received_messages_total", "Raft messages received.", (t) => t.messagesReceived);
    transportGauge("flotilla_raft_transport_decode_failures_total", "Raft payloads that did not decode (dropped).", (t) => t.decodeFailures);
  }

  /** Records one handled request. */
  observe(type: string, outcome: string, startedAt: bigint): void {
    this.requests.inc({ type, outcome });
    this.requestSeconds.observe({ type }, Number(process.hrtime.bigint() - startedAt) / 1e9);
  }

  /** Serves GET /metrics on 127.0.0.1:`port` (0: a free port); resolves with the port. */
  async listen(port: number, host = "127.0.0.1"): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method !== "GET" || (req.url !== "/metrics" && !req.url?.startsWith("/metrics?"))) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found: try GET /metrics\n");
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${err.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/**
 * What a workload needs from a system under test: producers, readers and a way to stop. Flotilla
 * (`flotilla-system.ts`) and NATS JetStream (`jetstream-system.ts`) implement it, so one workload
 * driver measures both the same way.
 *
 * A "partition" is a Flotilla partition, or for JetStream a stream of its own with the same
 * replicas (a JetStream stream is one Raft group, like one Flotilla partition).
 */
export type SystemName = "flotilla" | "jetstream";

export interface BenchProducer {
  /** Sends `values` to `partition`; resolves once every one is acknowledged as `acks` says. */
  send(partition: number, values: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

export interface BenchSystem {
  readonly name: SystemName;
  /** Records a closed-loop producer keeps unacknowledged: what fills this system's pipeline, no more. */
  readonly window: number;
  /** The server processes (brokers, nats-servers) whose CPU time the run reports; empty when not ours. */
  readonly serverPids: readonly number[];
  /** A producer with a connection of its own. */
  producer(): Promise<BenchProducer>;
  /**
   * Reads `partition` from its first record, handing each value to `onValues` as it arrives
   * (several at a time when the system delivers them together), until `until` is aborted.
   */
  read(partition: number, onValues: (values: Uint8Array[]) => void, until: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

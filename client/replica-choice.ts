/**
 * Which broker serves a follower fetch (`readFrom` "follower" or "any"). Every replica of a
 * partition answers on its own replica-fetch subject (protocol/subjects.ts `replicaFetch`); this
 * picks one from the partition's replicas and leader as the metadata request reports them, cached
 * for a few seconds per topic and forgotten when a fetch through it fails. No follower (RF 1, or
 * every follower missing from the metadata) means the leader's own subject.
 */
import { FlotillaError } from "../protocol/errors.js";
import type { PartitionMetadata } from "../protocol/requests.js";
import type { Rpc } from "./rpc.js";

export type ReadFrom = "leader" | "follower" | "any";

const MAX_AGE_MS = 10_000;

export class ReplicaChoice {
  private readonly topics = new Map<string, { partitions: PartitionMetadata[]; at: number }>();

  constructor(
    private readonly random: () => number,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The broker to fetch from, or undefined for the leader's subject. */
  async choose(rpc: Rpc, topic: string, partition: number, readFrom: ReadFrom): Promise<number | undefined> {
    if (readFrom === "leader") return undefined;
    const p = (await this.partitions(rpc, topic)).find((x) => x.partition === partition);
    if (!p) throw new FlotillaError("INVALID_PARTITION", `${topic} has no partition ${partition}`);
    const candidates = readFrom === "any" ? p.replicas : p.replicas.filter((id) => id !== p.leader);
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(this.random() * candidates.length) % candidates.length];
  }

  /** A fetch through the chosen broker failed: ask the cluster again next time. */
  forget(topic: string): void {
    this.topics.delete(topic);
  }

  private async partitions(rpc: Rpc, topic: string): Promise<PartitionMetadata[]> {
    const known = this.topics.get(topic);
    if (known && this.now() - known.at < MAX_AGE_MS) return known.partitions;
    const res = await rpc.call("metadata", rpc.adminTarget("metadata"), { topics: [topic] }, this.timeoutMs);
    const t = res.topics.find((x) => x.topic === topic);
    if (!t || t.error) throw t?.error ? FlotillaError.fromWire(t.error) : new FlotillaError("UNKNOWN_TOPIC", `topic ${topic} does not exist`);
    this.topics.set(topic, { partitions: t.partitions, at: this.now() });
    return t.partitions;
  }
}

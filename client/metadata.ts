/**
 * What the producer needs to know of a topic: its partition count (the partitioner's modulus).
 * Routing needs no leader table: a partition's subject reaches whoever leads it. Entries are
 * refreshed after `maxAgeMs`, and dropped at once when a retried error says `refreshMetadata`.
 */
import { FlotillaError } from "../protocol/errors.js";
import { retry, type RetryEnv, realRetryEnv, type RetryOptions } from "./retry.js";
import type { Rpc } from "./rpc.js";

export interface TopicInfo {
  partitions: number;
  fetchedAt: number;
}

/** A just-created topic may take a moment to reach the broker that answers: a few quick retries. */
export const UNKNOWN_TOPIC_RETRY: RetryOptions = { retries: 5, initialRetryTimeMs: 100, maxRetryTimeMs: 1000, multiplier: 2, factor: 0.2 };

export class MetadataCache {
  private readonly topics = new Map<string, TopicInfo>();
  private readonly pending = new Map<string, Promise<TopicInfo>>();

  constructor(
    private readonly rpc: () => Rpc,
    private readonly timeoutMs: number,
    private readonly maxAgeMs = 300_000,
    private readonly env: RetryEnv = realRetryEnv,
    private readonly now: () => number = Date.now,
  ) {}

  /** The topic's partition count; fetched when unknown, stale, or invalidated. */
  async partitions(topic: string): Promise<number> {
    const known = this.topics.get(topic);
    if (known && this.now() - known.fetchedAt < this.maxAgeMs) return known.partitions;
    let p = this.pending.get(topic);
    if (!p) {
      p = this.load(topic).finally(() => this.pending.delete(topic));
      this.pending.set(topic, p);
    }
    return (await p).partitions;
  }

  invalidate(topic: string): void {
    this.topics.delete(topic);
  }

  private async load(topic: string): Promise<TopicInfo> {
    const info = await retry(
      async () => {
        const rpc = this.rpc();
        const res = await rpc.call("metadata", rpc.adminTarget("metadata"), { topics: [topic] }, this.timeoutMs);
        const t = res.topics.find((x) => x.topic === topic);
        if (!t) throw new FlotillaError("UNKNOWN_TOPIC", `topic ${topic} does not exist; create it with \`flotilla topic create ${topic}\``);
        if (t.error) {
          const e = FlotillaError.fromWire(t.error);
          throw new FlotillaError(
            e.code,
            e.code === "UNKNOWN_TOPIC" ? `topic ${topic} does not exist; create it first (\`flotilla topic create ${topic} --partitions P --replication-factor R\`)` : e.message,
          );
        }
        if (t.partitions.length === 0) throw new FlotillaError("UNKNOWN_TOPIC", `topic ${topic} has no partitions yet`);
        return { partitions: t.partitions.length, fetchedAt: this.now() };
      },
      UNKNOWN_TOPIC_RETRY,
      {},
      this.env,
    );
    this.topics.set(topic, info);
    return info;
  }
}

/**
 * Topic configurations: the names Flotilla knows, what values each takes, and their defaults.
 * Names and meanings follow Kafka's, so `--config retention.ms=...` means what Kafka users expect.
 *
 * Values stay strings in the metadata log (as Kafka keeps them): the log records what the operator
 * asked for, and a later version may read a value more richly without a new record version. The
 * controller validates them before proposing, and `MetadataImage` validates them again on apply, so
 * the log can never hold a config a broker cannot read.
 */

export const CLEANUP_POLICIES = ["delete", "compact", "compact,delete"] as const;
export type CleanupPolicy = (typeof CLEANUP_POLICIES)[number];

/** A topic's configuration, every value present (defaults filled in), parsed. */
export interface TopicConfig {
  /** Delete segments whose newest record is older than this; -1 = keep forever. */
  readonly retentionMs: number;
  /** Delete the oldest segments while the partition stays at least this big; -1 = no limit. */
  readonly retentionBytes: number;
  readonly cleanupPolicy: CleanupPolicy;
  readonly segmentBytes: number;
  readonly segmentMs: number;
  /** Replicas that must have a write before it is acknowledged with acks=all. */
  readonly minInsyncReplicas: number;
  readonly maxMessageBytes: number;
  /** How long a tombstone stays readable before compaction drops it. */
  readonly deleteRetentionMs: number;
}

interface ConfigSpec<K extends keyof TopicConfig> {
  readonly field: K;
  readonly default: TopicConfig[K];
  /** The parsed value, or a problem described for people. */
  parse(value: string): TopicConfig[K] | { problem: string };
}

const DAY_MS = 24 * 60 * 60 * 1000;

function integer(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  return (value: string): number | { problem: string } => {
    if (!/^-?(0|[1-9][0-9]*)$/.test(value)) return { problem: `"${value}" is not an integer` };
    const n = Number(value);
    if (!(n >= min && n <= max)) return { problem: `${value} is not in [${min}, ${max}]` };
    return n;
  };
}

function cleanupPolicy(value: string): CleanupPolicy | { problem: string } {
  // Kafka accepts either order of a list; we store one spelling of it.
  const normal = value === "delete,compact" ? "compact,delete" : value;
  return (CLEANUP_POLICIES as readonly string[]).includes(normal)
    ? (normal as CleanupPolicy)
    : { problem: `"${value}" is not one of ${CLEANUP_POLICIES.join(" | ")} | delete,compact` };
}

const SPECS: { readonly [name: string]: ConfigSpec<keyof TopicConfig> } = {
  "retention.ms": { field: "retentionMs", default: 7 * DAY_MS, parse: integer(-1) },
  "retention.bytes": { field: "retentionBytes", default: -1, parse: integer(-1) },
  "cleanup.policy": { field: "cleanupPolicy", default: "delete", parse: cleanupPolicy },
  // Below 1 MiB a segment per few batches would cost a file and an fsync each.
  "segment.bytes": { field: "segmentBytes", default: 64 * 1024 * 1024, parse: integer(1024 * 1024, 2 ** 31 - 1) },
  "segment.ms": { field: "segmentMs", default: 7 * DAY_MS, parse: integer(1) },
  "min.insync.replicas": { field: "minInsyncReplicas", default: 1, parse: integer(1, 64) },
  "max.message.bytes": { field: "maxMessageBytes", default: 1024 * 1024, parse: integer(0, 2 ** 31 - 1) },
  "delete.retention.ms": { field: "deleteRetentionMs", default: DAY_MS, parse: integer(0) },
};

export const KNOWN_TOPIC_CONFIGS: readonly string[] = Object.keys(SPECS).sort();

/**
 * Every problem with `configs` for a topic of replication factor `replicationFactor`, one line each
 * (empty when they are all fine): unknown names, values that do not parse or are out of range, and
 * min.insync.replicas above the replication factor (such a topic could never take an acks=all write).
 */
export function topicConfigProblems(configs: Readonly<Record<string, string>>, replicationFactor: number): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(configs).sort()) {
    const spec = Object.hasOwn(SPECS, name) ? SPECS[name] : undefined;
    if (!spec) {
      problems.push(`unknown config ${name} (known: ${KNOWN_TOPIC_CONFIGS.join(", ")})`);
      continue;
    }
    const parsed = spec.parse(configs[name]);
    if (typeof parsed === "object") problems.push(`${name}: ${parsed.problem}`);
    else if (name === "min.insync.replicas" && (parsed as number) > replicationFactor) {
      problems.push(`min.insync.replicas: ${parsed} is more than the replication factor ${replicationFactor}`);
    }
  }
  return problems;
}

/**
 * The typed configuration of a topic whose configs passed `topicConfigProblems` (as every config in
 * a MetadataImage has), defaults filled in. Throws on configs that did not pass: a caller's bug.
 */
export function parseTopicConfig(configs: Readonly<Record<string, string>>): TopicConfig {
  const out: Record<string, TopicConfig[keyof TopicConfig]> = {};
  for (const spec of Object.values(SPECS)) out[spec.field] = spec.default;
  for (const [name, value] of Object.entries(configs)) {
    const spec = Object.hasOwn(SPECS, name) ? SPECS[name] : undefined;
    const parsed = spec?.parse(value);
    if (spec === undefined || parsed === undefined || typeof parsed === "object") {
      throw new RangeError(`parseTopicConfig: config ${name}=${value} was never validated`);
    }
    out[spec.field] = parsed;
  }
  return out as unknown as TopicConfig;
}

/**
 * The stored form of valid configs: cleanup.policy in its one spelling, everything else as given.
 * Equal configurations then compare equal in the image.
 */
export function normalizeTopicConfigs(configs: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(configs).sort()) {
    out[name] = name === "cleanup.policy" && configs[name] === "delete,compact" ? "compact,delete" : configs[name];
  }
  return out;
}

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
  /** Kafka's meaning: replicas that must have a write before acks=all succeeds. A Raft majority always does, so only values above a majority add anything. */
  readonly minInsyncReplicas: number;
  readonly maxMessageBytes: number;
  /** How long a tombstone stays readable before compaction drops it. */
  readonly deleteRetentionMs: number;
}

interface IntegerSpec {
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const LONG = Number.MAX_SAFE_INTEGER;
const INT = 2 ** 31 - 1;

/** Every known config but cleanup.policy is an integer. */
const INTEGER_CONFIGS: { readonly [name: string]: IntegerSpec } = {
  "retention.ms": { default: 7 * DAY_MS, min: -1, max: LONG },
  "retention.bytes": { default: -1, min: -1, max: LONG },
  // Below 1 MiB a segment per few batches would cost a file and an fsync each.
  "segment.bytes": { default: 64 * 1024 * 1024, min: 1024 * 1024, max: INT },
  "segment.ms": { default: 7 * DAY_MS, min: 1, max: LONG },
  "min.insync.replicas": { default: 1, min: 1, max: 64 },
  "max.message.bytes": { default: 1024 * 1024, min: 0, max: INT },
  "delete.retention.ms": { default: DAY_MS, min: 0, max: LONG },
};

const CLEANUP_POLICY = "cleanup.policy";

export const KNOWN_TOPIC_CONFIGS: readonly string[] = [...Object.keys(INTEGER_CONFIGS), CLEANUP_POLICY].sort();

type Parsed<T> = { value: T } | { problem: string };

function parseInteger(value: string, spec: IntegerSpec): Parsed<number> {
  if (!/^-?(0|[1-9][0-9]*)$/.test(value)) return { problem: `"${value}" is not an integer` };
  const n = Number(value);
  if (!(n >= spec.min && n <= spec.max)) return { problem: `${value} is not in [${spec.min}, ${spec.max}]` };
  return { value: n };
}

function parseCleanupPolicy(value: string): Parsed<CleanupPolicy> {
  // Kafka accepts either order of a list; we store one spelling of it.
  const normal = value === "delete,compact" ? "compact,delete" : value;
  const policy = CLEANUP_POLICIES.find((p) => p === normal);
  return policy ? { value: policy } : { problem: `"${value}" is not one of ${CLEANUP_POLICIES.join(" | ")} | delete,compact` };
}

/** The parsed value of a known config, or its problem; undefined for a name we do not know. */
function parseConfig(name: string, value: string): Parsed<number | CleanupPolicy> | undefined {
  if (name === CLEANUP_POLICY) return parseCleanupPolicy(value);
  return Object.hasOwn(INTEGER_CONFIGS, name) ? parseInteger(value, INTEGER_CONFIGS[name]) : undefined;
}

/**
 * Every problem with `configs` for a topic of replication factor `replicationFactor`, one line each
 * (empty when they are all fine): unknown names, values that do not parse or are out of range, and
 * min.insync.replicas above the replication factor (such a topic could never take an acks=all write).
 */
export function topicConfigProblems(configs: Readonly<Record<string, string>>, replicationFactor: number): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(configs).sort()) {
    const parsed = parseConfig(name, configs[name]);
    if (parsed === undefined) problems.push(`unknown config ${name} (known: ${KNOWN_TOPIC_CONFIGS.join(", ")})`);
    else if ("problem" in parsed) problems.push(`${name}: ${parsed.problem}`);
    else if (name === "min.insync.replicas" && typeof parsed.value === "number" && parsed.value > replicationFactor) {
      problems.push(`min.insync.replicas: ${parsed.value} is more than the replication factor ${replicationFactor}`);
    }
  }
  return problems;
}

/**
 * The typed configuration of a topic whose configs passed `topicConfigProblems` (as every config in
 * a MetadataImage has), defaults filled in. Throws on configs that did not pass: a caller's bug.
 */
export function parseTopicConfig(configs: Readonly<Record<string, string>>): TopicConfig {
  const invalid = (name: string): never => {
    throw new RangeError(`parseTopicConfig: config ${name}=${configs[name]} was never validated`);
  };
  for (const name of Object.keys(configs)) if (parseConfig(name, configs[name]) === undefined) invalid(name);
  const integer = (name: string): number => {
    if (!Object.hasOwn(configs, name)) return INTEGER_CONFIGS[name].default;
    const parsed = parseInteger(configs[name], INTEGER_CONFIGS[name]);
    return "value" in parsed ? parsed.value : invalid(name);
  };
  const policy = Object.hasOwn(configs, CLEANUP_POLICY) ? parseCleanupPolicy(configs[CLEANUP_POLICY]) : { value: "delete" as const };
  return {
    retentionMs: integer("retention.ms"),
    retentionBytes: integer("retention.bytes"),
    cleanupPolicy: "value" in policy ? policy.value : invalid(CLEANUP_POLICY),
    segmentBytes: integer("segment.bytes"),
    segmentMs: integer("segment.ms"),
    minInsyncReplicas: integer("min.insync.replicas"),
    maxMessageBytes: integer("max.message.bytes"),
    deleteRetentionMs: integer("delete.retention.ms"),
  };
}

/**
 * The stored form of valid configs: cleanup.policy in its one spelling, everything else as given.
 * Equal configurations then compare equal in the image.
 */
export function normalizeTopicConfigs(configs: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(configs).sort()) {
    out[name] = name === CLEANUP_POLICY && configs[name] === "delete,compact" ? "compact,delete" : configs[name];
  }
  return out;
}

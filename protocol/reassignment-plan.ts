/**
 * Reassignment plans as files hold them: Kafka's reassignment JSON, `{"version": 1, "partitions":
 * [{"topic", "partition", "replicas"}]}` (what `flotilla reassign generate --json` prints and
 * `execute --plan` / `verify --plan` / `cancel --plan` read). A plan comes from a file a person may
 * have edited, so it is checked whole, and every problem is reported at once.
 */
import { FlotillaError } from "./errors.js";
import { REQUEST_BOUNDS } from "./requests.js";
import { topicNameProblem } from "./subjects.js";

export const REASSIGNMENT_PLAN_VERSION = 1;

export interface PlannedReplicas {
  readonly topic: string;
  readonly partition: number;
  /** Distinct broker ids, preferred leader first. */
  readonly replicas: readonly number[];
}

export interface ReassignmentPlan {
  readonly version: typeof REASSIGNMENT_PLAN_VERSION;
  readonly partitions: readonly PlannedReplicas[];
}

const isId = (v: unknown, min: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= min && v <= 2 ** 31 - 1;

/** The plan in `value` (parsed JSON), or INVALID_REQUEST naming every problem. */
export function parseReassignmentPlan(value: unknown): ReassignmentPlan {
  const problems: string[] = [];
  const o = value as { version?: unknown; partitions?: unknown } | null;
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw new FlotillaError("INVALID_REQUEST", 'a reassignment plan is a JSON object {"version": 1, "partitions": [...]}');
  if (o.version !== REASSIGNMENT_PLAN_VERSION) problems.push(`version is ${JSON.stringify(o.version)}, expected ${REASSIGNMENT_PLAN_VERSION}`);
  const entries = Array.isArray(o.partitions) ? (o.partitions as unknown[]) : [];
  if (!Array.isArray(o.partitions)) problems.push("partitions must be a list");
  if (entries.length > REQUEST_BOUNDS.offsetsPerRequest) problems.push(`${entries.length} partitions, at most ${REQUEST_BOUNDS.offsetsPerRequest}`);
  const seen = new Set<string>();
  const partitions: PlannedReplicas[] = [];
  entries.forEach((e, i) => {
    const p = e as { topic?: unknown; partition?: unknown; replicas?: unknown } | null;
    const at = `partitions[${i}]`;
    if (p === null || typeof p !== "object") return void problems.push(`${at} is not an object`);
    const topicProblem = typeof p.topic === "string" ? topicNameProblem(p.topic) : "topic must be a string";
    if (topicProblem) problems.push(`${at}: ${topicProblem}`);
    if (!isId(p.partition, 0)) problems.push(`${at}: partition must be an integer ≥ 0`);
    const replicas = Array.isArray(p.replicas) ? (p.replicas as unknown[]) : [];
    if (replicas.length === 0 || replicas.length > REQUEST_BOUNDS.replicationFactor || !replicas.every((r) => isId(r, 1))) {
      problems.push(`${at}: replicas must be 1 to ${REQUEST_BOUNDS.replicationFactor} broker ids`);
    } else if (new Set(replicas).size !== replicas.length) problems.push(`${at}: replicas name a broker twice`);
    const key = `${String(p.topic)}/${String(p.partition)}`;
    if (seen.has(key)) problems.push(`${at}: ${p.topic}-${p.partition} appears twice`);
    seen.add(key);
    partitions.push({ topic: p.topic as string, partition: p.partition as number, replicas: replicas as number[] });
  });
  if (problems.length > 0) throw new FlotillaError("INVALID_REQUEST", `reassignment plan: ${problems.join("; ")}`);
  return { version: REASSIGNMENT_PLAN_VERSION, partitions };
}

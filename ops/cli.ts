#!/usr/bin/env node
/**
 * The `flotilla` command (shared/CONTRACTS.md): a local cluster (`dev`), a broker process
 * (`broker`), topics, produce and consume (with or without a group), consumer groups, cluster description, and the simulator and benchmark
 * passthroughs. Every command that talks to a cluster takes --nats URL and --cluster NAME; every
 * command that prints a result takes --json and then prints exactly one JSON document (produce and
 * consume: one JSON object per line). Problems with the arguments are all reported at once (exit
 * 2); failures go to stderr with what was wrong and what to do (exit 1).
 *
 * `runCli(argv, io)` is the whole command with its input and output handed in, for tests.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_CLUSTER,
  DEFAULT_SERVERS,
  Flotilla,
  FlotillaConnectionError,
  FlotillaError,
  type ClusterDescription,
  type FetchedRecord,
  type RecordMetadata,
  type RequesterFactory,
  type TopicDescription,
} from "../client/index.js";
import { formatFlags, parseArgs, type FlagSpec, type FlagValue } from "./cli-args.js";
import * as ops from "./cli-operations.js";

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  stdin: NodeJS.ReadableStream;
  /** For tests: how the client connects (default: NATS). */
  connect?: RequesterFactory;
  /** Resolves when the user asks to stop (Ctrl-C / SIGTERM); default: the process's signals. */
  interrupted?: () => Promise<void>;
}

/** A problem with the command line: exit code 2, with a pointer to --help. */
export class UsageError extends Error {
  constructor(
    readonly problems: string[],
    readonly command: string,
  ) {
    super(problems.join("; "));
  }
}

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

// ------------------------------------------------------------------------------------------------
// Flags

const CLUSTER_FLAGS: Record<string, FlagSpec> = {
  nats: { kind: "string", value: "URL", help: `NATS server (default ${DEFAULT_SERVERS})` },
  cluster: { kind: "string", value: "NAME", help: `cluster name (default ${DEFAULT_CLUSTER})` },
  user: { kind: "string", value: "USER", help: "NATS user (with --password)" },
  password: { kind: "string", value: "PASSWORD", help: "NATS password" },
  json: { kind: "bool", help: "print JSON" },
  help: { kind: "bool", help: "show this help" },
};

interface Ctx {
  io: CliIo;
  name: string;
  flags: Map<string, FlagValue>;
  positionals: string[];
  rest: string[];
  json: boolean;
}

interface Command {
  usage: string;
  summary: string;
  details?: string;
  flags: Record<string, FlagSpec>;
  /** Names of the positional arguments, all required. */
  positionals: string[];
  /** Cross-flag rules: problems to add. */
  check?(flags: Map<string, FlagValue>): string[];
  run(ctx: Ctx): Promise<number>;
  /** Parses its own arguments (broker, sim, bench). */
  raw?: boolean;
}

function str(ctx: Ctx, name: string): string | undefined {
  return ctx.flags.get(name) as string | undefined;
}
function int(ctx: Ctx, name: string): number | undefined {
  return ctx.flags.get(name) as number | undefined;
}

function client(ctx: Ctx): Flotilla {
  const user = str(ctx, "user");
  return new Flotilla({
    servers: str(ctx, "nats") ?? DEFAULT_SERVERS,
    cluster: str(ctx, "cluster") ?? DEFAULT_CLUSTER,
    clientId: `flotilla-cli-${ctx.name.replace(/ /g, "-")}`,
    ...(user !== undefined && { user, pass: str(ctx, "password") ?? "" }),
    requestTimeoutMs: 10_000,
    retry: { retries: 6, maxRetryTimeMs: 2000 },
    ...(ctx.io.connect && { connect: ctx.io.connect }),
  });
}

async function withAdmin<T>(ctx: Ctx, fn: (admin: ReturnType<Flotilla["admin"]>) => Promise<T>): Promise<T> {
  const admin = client(ctx).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

function print(ctx: Ctx, json: unknown, text: string): void {
  ctx.io.stdout.write(ctx.json ? `${JSON.stringify(json)}\n` : text.endsWith("\n") || text === "" ? text : `${text}\n`);
}

// ------------------------------------------------------------------------------------------------
// JSON shapes (CONTRACTS.md): offsets as strings, absent leaders as null.

export function topicJson(d: TopicDescription): object {
  return {
    topic: d.topic,
    partitions: d.partitions.map((p) => ({
      partition: p.partition,
      replicas: p.replicas,
      leader: p.leader ?? null,
      ...(p.isr !== undefined && { isr: p.isr }),
      highWatermark: p.highWatermark === undefined ? null : p.highWatermark.toString(),
      logStartOffset: p.logStartOffset === undefined ? null : p.logStartOffset.toString(),
    })),
    configs: d.configs,
  };
}

export function clusterJson(d: ClusterDescription): object {
  return {
    controllerLeader: d.controllerLeader ?? null,
    brokers: d.brokers.map((b) => ({ id: b.id, alive: b.alive, fenced: b.fenced, leaders: b.leaders, replicas: b.replicas })),
    partitions: d.partitions,
    underReplicated: d.underReplicated,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

// ------------------------------------------------------------------------------------------------
// Commands

const TOPIC_HINT = "list topics with `flotilla topic list`, create one with `flotilla topic create NAME --partitions P --replication-factor R`";

const commands: Record<string, Command> = {
  dev: {
    usage: "flotilla dev [--brokers 3] [--dir DIR] [--nats URL] [--cluster NAME] [--embedded] [--json]",
    summary: "run a local cluster: nats-server and N broker processes (or N brokers in this process), until Ctrl-C",
    details:
      "Starts nats-server on a free loopback port (installing Debian's nats-server package when it is missing) unless --nats is given,\n" +
      "then N `flotilla broker` processes (controllers 1..min(N,3)), waits until a controller is elected and every broker is registered,\n" +
      "and prints the NATS URL and each broker's metrics URL. Ctrl-C (or SIGTERM) stops everything it started. Broker logs go to DIR/broker-N.log.\n" +
      "Without --dir the data lives in a temporary directory that is removed on stop.\n" +
      "--embedded: every broker runs in this process over the in-process transport, no NATS at all. Nothing outside the process can\n" +
      "reach such a cluster, so it runs the demo round trip itself and shows it, with each broker's metrics URL. Logs go to DIR/brokers.log.",
    flags: {
      brokers: { kind: "int", value: "N", min: 1, help: "broker processes to run (default 3)" },
      dir: { kind: "string", value: "DIR", help: "data and log directory (default: a temporary one, removed on stop)" },
      embedded: { kind: "bool", help: "every broker in this process over the in-process transport, no NATS (runs the demo itself)" },
      ...CLUSTER_FLAGS,
    },
    positionals: [],
    run: runDev,
  },
  broker: {
    usage: "flotilla broker --id N --dir DIR --controllers 1,2,3 [--nats URL] [--cluster NAME] [--metrics-port P]",
    summary: "run one broker process (the production entry point)",
    details: "Runs until SIGTERM or SIGINT, then hands its partition leaderships away and stops. Logs are JSON on stdout.",
    flags: {
      id: { kind: "int", value: "N", min: 1, help: "this broker's id", required: true },
      dir: { kind: "string", value: "DIR", help: "where this broker keeps its data", required: true },
      controllers: { kind: "ids", value: "1,2,3", help: "ids of the controller quorum (the same list on every broker)", required: true },
      "metrics-port": { kind: "int", value: "P", help: "serve Prometheus metrics on this port (0: any free port)" },
      nats: CLUSTER_FLAGS.nats,
      cluster: CLUSTER_FLAGS.cluster,
      "nats-user": { kind: "string", value: "USER", help: "NATS user (the broker user of ops/nats/flotilla.conf)" },
      "nats-password": { kind: "string", value: "PASSWORD", help: "NATS password" },
      "fault-control": { kind: "bool", help: "TESTS ONLY: obey fault-injection commands on the broker-only subject faults.<id> (the chaos suite); never in production" },
      help: CLUSTER_FLAGS.help,
    },
    positionals: [],
    run: runBroker,
  },
  "topic create": {
    usage: "flotilla topic create NAME --partitions P --replication-factor R [--config k=v …]",
    summary: "create a topic",
    flags: {
      partitions: { kind: "int", value: "P", min: 1, help: "number of partitions", required: true },
      "replication-factor": { kind: "int", value: "R", min: 1, help: "replicas of each partition", required: true },
      config: { kind: "kv", value: "k=v", help: "topic config, repeatable (e.g. retention.ms=604800000)" },
      ...CLUSTER_FLAGS,
    },
    positionals: ["NAME"],
    async run(ctx) {
      const [topic] = ctx.positionals;
      const partitions = int(ctx, "partitions")!;
      const replicationFactor = int(ctx, "replication-factor")!;
      const configs = (ctx.flags.get("config") as Record<string, string> | undefined) ?? {};
      await withAdmin(ctx, (a) => a.createTopic({ topic, partitions, replicationFactor, configs }));
      print(ctx, { topic, partitions, replicationFactor, configs }, `created topic ${topic}: ${partitions} partition${partitions === 1 ? "" : "s"}, replication factor ${replicationFactor}`);
      return EXIT_OK;
    },
  },
  "topic list": {
    usage: "flotilla topic list",
    summary: "list topics",
    flags: CLUSTER_FLAGS,
    positionals: [],
    async run(ctx) {
      const topics = (await withAdmin(ctx, (a) => a.listTopics())).filter((t) => !t.startsWith("__")).sort();
      print(ctx, { topics }, topics.join("\n"));
      return EXIT_OK;
    },
  },
  "topic describe": {
    usage: "flotilla topic describe NAME",
    summary: "each partition's replicas, leader, high watermark and log start offset",
    flags: CLUSTER_FLAGS,
    positionals: ["NAME"],
    async run(ctx) {
      const d = await withAdmin(ctx, (a) => a.describeTopic(ctx.positionals[0]));
      const configs = Object.entries(d.configs).map(([k, v]) => `${k}=${v}`).join(", ");
      const rows = [["partition", "leader", "replicas", "isr", "high watermark", "log start"]];
      for (const p of d.partitions) {
        rows.push([String(p.partition), p.leader === undefined ? "none" : String(p.leader), p.replicas.join(","), p.isr?.join(",") ?? "-", p.highWatermark?.toString() ?? "-", p.logStartOffset?.toString() ?? "-"]);
      }
      print(ctx, topicJson(d), `topic ${d.topic}${configs ? ` (${configs})` : ""}\n${table(rows)}`);
      return EXIT_OK;
    },
  },
  "topic delete": {
    usage: "flotilla topic delete NAME",
    summary: "delete a topic",
    flags: CLUSTER_FLAGS,
    positionals: ["NAME"],
    async run(ctx) {
      const [topic] = ctx.positionals;
      await withAdmin(ctx, (a) => a.deleteTopic(topic));
      print(ctx, { topic, deleted: true }, `deleted topic ${topic}`);
      return EXIT_OK;
    },
  },
  "cluster describe": {
    usage: "flotilla cluster describe",
    summary: "brokers (alive/fenced), controller leader, partition counts, leaders per broker, under-replicated partitions",
    flags: CLUSTER_FLAGS,
    positionals: [],
    async run(ctx) {
      const d = await withAdmin(ctx, (a) => a.describeCluster());
      const rows = [["broker", "alive", "fenced", "leaders", "replicas"], ...d.brokers.map((b) => [String(b.id), String(b.alive), String(b.fenced), String(b.leaders), String(b.replicas)])];
      print(
        ctx,
        clusterJson(d),
        `controller leader: ${d.controllerLeader ?? "none (election under way)"}\n${table(rows)}\npartitions: ${d.partitions}, under-replicated: ${d.underReplicated}`,
      );
      return EXIT_OK;
    },
  },
  produce: {
    usage: "flotilla produce TOPIC [--key K] [--partition P] [--acks all|leader|none]",
    summary: "send one record per line of stdin; prints the partition and offset of each",
    flags: {
      key: { kind: "string", value: "K", help: "key of every record (default: none; keyless records spread over partitions)" },
      partition: { kind: "int", value: "P", help: "send every record to this partition" },
      acks: { kind: "string", value: "all|leader|none", help: "what the broker waits for before answering (default all)" },
      ...CLUSTER_FLAGS,
    },
    positionals: ["TOPIC"],
    check: (f) => {
      const acks = f.get("acks");
      return acks !== undefined && acks !== "all" && acks !== "leader" && acks !== "none" ? [`--acks "${String(acks)}" must be all, leader or none`] : [];
    },
    run: runProduce,
  },
  consume: {
    usage: "flotilla consume TOPIC [--group G] [--from-beginning] [--partition P [--offset O]] [--max N] [--timeout-ms T]",
    summary: "print records, one per line (--json: topic, partition, offset, key, value, timestamp)",
    details:
      "Reads every partition of TOPIC (or only --partition P) from its end, from its beginning with --from-beginning, or from --offset O.\n" +
      "With --group G, reads as a member of consumer group G: the partitions the group assigns it, from the group's committed offsets\n" +
      "(--from-beginning: where the group has none), committing what it printed.\n" +
      "Stops after --max N records, after --timeout-ms T without a new record, or at Ctrl-C.",
    flags: {
      group: { kind: "string", value: "G", help: "read as a member of consumer group G" },
      "from-beginning": { kind: "bool", help: "start at the oldest record still kept" },
      partition: { kind: "int", value: "P", help: "read only this partition" },
      offset: { kind: "int", value: "O", help: "start at this offset (needs --partition)" },
      max: { kind: "int", value: "N", min: 1, help: "stop after N records" },
      "timeout-ms": { kind: "int", value: "T", min: 1, help: "stop after T ms without a new record" },
      ...CLUSTER_FLAGS,
    },
    positionals: ["TOPIC"],
    check: (f) => {
      const problems: string[] = [];
      if (f.has("offset") && !f.has("partition")) problems.push("--offset needs --partition (an offset belongs to one partition)");
      if (f.has("offset") && f.has("from-beginning")) problems.push("give --offset or --from-beginning, not both");
      if (f.has("group") && f.has("partition")) problems.push("--group reads the partitions the group assigns: leave out --partition and --offset");
      return problems;
    },
    run: runConsume,
  },
  "group list": {
    usage: "flotilla group list",
    summary: "consumer groups: state and member count",
    flags: CLUSTER_FLAGS,
    positionals: [],
    async run(ctx) {
      const groups = await withAdmin(ctx, (a) => a.listGroups());
      const rows = [["group", "state", "members"], ...groups.map((g) => [g.groupId, g.state, String(g.members)])];
      print(ctx, { groups }, groups.length === 0 ? "no consumer groups" : table(rows));
      return EXIT_OK;
    },
  },
  "group describe": {
    usage: "flotilla group describe G",
    summary: "a group's state, members and their partitions, and its committed offsets",
    flags: CLUSTER_FLAGS,
    positionals: ["G"],
    async run(ctx) {
      const d = await withAdmin(ctx, (a) => a.describeGroup(ctx.positionals[0]));
      const json = { ...d, offsets: d.offsets.map((o) => ({ ...o, offset: o.offset.toString() })) };
      const members = d.members.map((m) => `  ${m.memberId} (${m.clientId}): ${m.assignment.map((a) => `${a.topic} [${a.partitions.join(",")}]`).join(" ") || "nothing"}`);
      const offsets = table([["topic", "partition", "committed"], ...d.offsets.map((o) => [o.topic, String(o.partition), o.offset.toString()])]);
      print(ctx, json, `group ${d.groupId}: ${d.state}, generation ${d.generation}\nmembers:\n${members.join("\n") || "  none"}\n${offsets}`);
      return EXIT_OK;
    },
  },
  "group reset-offsets": {
    usage: "flotilla group reset-offsets G --topic T (--to-earliest | --to-latest | --to-offset O) [--partition P]",
    summary: "move a stopped group's committed offsets for a topic",
    details: "The group must have no running members. Every partition of T, or only --partition P.",
    flags: {
      topic: { kind: "string", value: "T", required: true, help: "the topic whose offsets move" },
      "to-earliest": { kind: "bool", help: "to each partition's oldest record still kept" },
      "to-latest": { kind: "bool", help: "to each partition's end (skip everything there now)" },
      "to-offset": { kind: "int", value: "O", help: "to offset O" },
      partition: { kind: "int", value: "P", help: "only this partition" },
      ...CLUSTER_FLAGS,
    },
    positionals: ["G"],
    check: (f) => (["to-earliest", "to-latest", "to-offset"].filter((k) => f.has(k)).length === 1 ? [] : ["give exactly one of --to-earliest, --to-latest, --to-offset O"]),
    async run(ctx) {
      const [groupId] = ctx.positionals;
      const topic = str(ctx, "topic")!;
      const partition = int(ctx, "partition");
      const to = ctx.flags.has("to-earliest") ? "earliest" : ctx.flags.has("to-latest") ? "latest" : "offset";
      const offset = int(ctx, "to-offset");
      const offsets = await withAdmin(ctx, (a) =>
        a.resetOffsets({ groupId, topic, to, ...(offset !== undefined && { offset }), ...(partition !== undefined && { partitions: [partition] }) }),
      );
      const json = { groupId, offsets: offsets.map((o) => ({ ...o, offset: o.offset.toString() })) };
      print(ctx, json, offsets.map((o) => `${o.topic} partition ${o.partition} → ${o.offset}`).join("\n"));
      return EXIT_OK;
    },
  },
  "reassign generate": {
    usage: "flotilla reassign generate --topics T1,T2 --brokers 2,3,4",
    summary: "print a plan (JSON) that spreads the topics' replicas evenly over the brokers, moving as few as possible",
    flags: {
      topics: { kind: "string", value: "T1,T2", help: "topics to move, separated by commas", required: true },
      brokers: { kind: "ids", value: "2,3,4", help: "brokers to place them on", required: true },
      ...CLUSTER_FLAGS,
    },
    positionals: [],
    async run(ctx) {
      const topics = str(ctx, "topics")!.split(",").map((t) => t.trim()).filter((t) => t.length > 0);
      await withAdmin(ctx, (a) => ops.generatePlan(a, operationsIo(ctx), topics, ctx.flags.get("brokers") as number[]));
      return EXIT_OK;
    },
  },
  "reassign execute": {
    usage: "flotilla reassign execute --plan FILE [--throttle MBPS] [--no-wait]",
    summary: "move partitions to the plan's replicas, showing progress until done",
    details:
      "New replicas join as learners and catch up (at most --throttle megabytes per second from each broker), then the voters switch by joint\n" +
      "consensus, leadership leaves replicas that go, and the old replicas delete their data. Producers and consumers keep running.\n" +
      "Ctrl-C stops waiting, not the reassignment. Executing a plan again is harmless.",
    flags: {
      plan: { kind: "string", value: "FILE", help: "the plan (from reassign generate --json)", required: true },
      throttle: { kind: "int", value: "MBPS", min: 1, help: "cap on the megabytes per second each broker sends to catching-up replicas" },
      "no-wait": { kind: "bool", help: "start the moves and exit (follow them with reassign verify)" },
      ...CLUSTER_FLAGS,
    },
    positionals: [],
    async run(ctx) {
      const plan = await ops.readPlan(str(ctx, "plan")!);
      const throttleMbps = int(ctx, "throttle");
      return withAdmin(ctx, (a) => ops.executePlan(a, operationsIo(ctx), plan, { ...(throttleMbps !== undefined && { throttleMbps }), noWait: ctx.flags.get("no-wait") === true }));
    },
  },
  "reassign verify": {
    usage: "flotilla reassign verify --plan FILE",
    summary: "where each partition of the plan stands; exits 0 only when the plan is complete",
    flags: { plan: { kind: "string", value: "FILE", help: "the plan", required: true }, ...CLUSTER_FLAGS },
    positionals: [],
    async run(ctx) {
      const plan = await ops.readPlan(str(ctx, "plan")!);
      return withAdmin(ctx, (a) => ops.verifyPlan(a, operationsIo(ctx), plan));
    },
  },
  "reassign cancel": {
    usage: "flotilla reassign cancel --plan FILE | --topic T --partition P",
    summary: "cancel reassignments in progress: each partition goes back to its replicas",
    flags: {
      plan: { kind: "string", value: "FILE", help: "cancel the plan's partitions that are moving" },
      topic: { kind: "string", value: "T", help: "one partition's topic (with --partition)" },
      partition: { kind: "int", value: "P", help: "one partition (with --topic)" },
      ...CLUSTER_FLAGS,
    },
    positionals: [],
    check: (f) => (f.has("plan") === (f.has("topic") || f.has("partition")) || f.has("topic") !== f.has("partition") ? ["give --plan FILE, or --topic T with --partition P"] : []),
    async run(ctx) {
      const file = str(ctx, "plan");
      const partitions = file !== undefined ? await ops.readPlan(file) : [{ topic: str(ctx, "topic")!, partition: int(ctx, "partition")! }];
      await withAdmin(ctx, (a) => ops.cancelPlan(a, operationsIo(ctx), partitions));
      return EXIT_OK;
    },
  },
  "leader transfer": {
    usage: "flotilla leader transfer --topic T --partition P --to BROKER",
    summary: "move one partition's leadership (it also becomes the preferred leader)",
    flags: {
      topic: { kind: "string", value: "T", help: "the topic", required: true },
      partition: { kind: "int", value: "P", help: "the partition", required: true },
      to: { kind: "int", value: "BROKER", min: 1, help: "the replica to lead it", required: true },
      ...CLUSTER_FLAGS,
    },
    positionals: [],
    async run(ctx) {
      await withAdmin(ctx, (a) => ops.transferLeader(a, operationsIo(ctx), str(ctx, "topic")!, int(ctx, "partition")!, int(ctx, "to")!));
      return EXIT_OK;
    },
  },
  "leader rebalance": {
    usage: "flotilla leader rebalance",
    summary: "move every partition's leadership to its preferred replica",
    flags: CLUSTER_FLAGS,
    positionals: [],
    async run(ctx) {
      await withAdmin(ctx, (a) => ops.rebalanceLeaders(a, operationsIo(ctx)));
      return EXIT_OK;
    },
  },
  "broker decommission": {
    usage: "flotilla broker decommission --id N [--no-wait]",
    summary: "move every replica off a broker, then fence it for good (it can then be stopped and removed)",
    flags: {
      id: { kind: "int", value: "N", min: 1, help: "the broker to decommission", required: true },
      "no-wait": { kind: "bool", help: "start the moves and exit (run again to fence it once they are done)" },
      ...CLUSTER_FLAGS,
    },
    positionals: [],
    async run(ctx) {
      return withAdmin(ctx, (a) => ops.decommissionBroker(a, operationsIo(ctx), int(ctx, "id")!, ctx.flags.get("no-wait") === true));
    },
  },
  sim: {
    usage: "flotilla sim [simulator options]",
    summary: "the deterministic cluster simulator (same as npm run sim)",
    flags: {},
    positionals: [],
    raw: true,
    run: (ctx) => passthrough(ctx, "../broker/sim/cli.js"),
  },
  bench: {
    usage: "flotilla bench <workload> [options] [--json]",
    summary: "benchmarks (same as npm run bench)",
    flags: {},
    positionals: [],
    raw: true,
    run: (ctx) => passthrough(ctx, "../bench/cli.js"),
  },
};

const GROUPS: Record<string, string> = {
  topic: "create|list|describe|delete",
  cluster: "describe",
  reassign: "generate|execute|verify|cancel",
  leader: "transfer|rebalance",
  group: "list|describe|reset-offsets",
};

function commandHelp(name: string, c: Command): string {
  const flags = Object.keys(c.flags).length > 0 ? `\n\noptions:\n${formatFlags(c.flags)}` : "";
  return `usage: ${c.usage}\n\n${c.summary}${c.details ? `\n\n${c.details}` : ""}${flags}\n`;
}

export function topHelp(): string {
  const rows = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(18)} ${c.summary}`);
  return (
    "usage: flotilla <command> [options]\n\ncommands:\n" +
    rows.join("\n") +
    `\n\nCommands that talk to a cluster take --nats URL (default ${DEFAULT_SERVERS}) and --cluster NAME (default ${DEFAULT_CLUSTER});\n` +
    "--json prints machine-readable output. `flotilla <command> --help` shows a command's options.\n"
  );
}

/** Finds the command and parses its arguments; throws UsageError with every problem. */
export function parseCommand(argv: readonly string[]): { name: string; command: Command; flags: Map<string, FlagValue>; positionals: string[]; rest: string[] } | { help: string } {
  const [first, second] = argv;
  if (first === undefined || first === "--help" || first === "help" || first === "-h") return { help: topHelp() };
  let name = first;
  let args = argv.slice(1);
  // `broker` runs a broker; `broker decommission` is an operation on one.
  if (!GROUPS[first] && second !== undefined && commands[`${first} ${second}`]) {
    name = `${first} ${second}`;
    args = argv.slice(2);
  } else if (GROUPS[first]) {
    if (second === undefined || second === "--help") {
      const subs = Object.entries(commands).filter(([n]) => n.startsWith(`${first} `));
      return { help: `usage: flotilla ${first} ${GROUPS[first]} …\n\n${subs.map(([n, c]) => `  ${n.padEnd(18)} ${c.summary}`).join("\n")}\n` };
    }
    name = `${first} ${second}`;
    args = argv.slice(2);
    if (!commands[name]) throw new UsageError([`unknown command "flotilla ${name}" (try ${GROUPS[first].split("|").map((s) => `${first} ${s}`).join(", ")})`], first);
  }
  const command = commands[name];
  if (!command) throw new UsageError([`unknown command "${first}"`], "");
  if (command.raw) return { name, command, flags: new Map(), positionals: [], rest: args };
  const parsed = parseArgs(args, command.flags);
  if (parsed.flags.get("help") === true) return { help: commandHelp(name, command) };
  const problems = [...parsed.problems];
  const wanted = command.positionals;
  if (parsed.positionals.length < wanted.length) problems.push(`${wanted.slice(parsed.positionals.length).join(" ")} is required`);
  if (parsed.positionals.length > wanted.length) problems.push(`unexpected argument${parsed.positionals.length - wanted.length > 1 ? "s" : ""} ${parsed.positionals.slice(wanted.length).map((s) => `"${s}"`).join(" ")}`);
  problems.push(...(command.check?.(parsed.flags) ?? []));
  if (problems.length > 0) throw new UsageError(problems, name);
  return { name, command, flags: parsed.flags, positionals: parsed.positionals, rest: parsed.rest };
}

/** Explains an error for people: what was wrong, then what to do. */
export function describeError(e: unknown, command: string, positionals: string[] = []): string {
  if (e instanceof FlotillaConnectionError) return e.message;
  if (e instanceof FlotillaError) {
    const topic = positionals[0] ?? "NAME";
    const hints: Partial<Record<string, string>> = {
      UNKNOWN_TOPIC: TOPIC_HINT,
      TOPIC_EXISTS: `choose another name, or delete it first with \`flotilla topic delete ${topic}\``,
      INVALID_REPLICATION_FACTOR: "use a replication factor no larger than the number of live brokers (see `flotilla cluster describe`)",
      INVALID_PARTITION: `see the topic's partitions with \`flotilla topic describe ${topic}\``,
      NO_LEADER: "the cluster may still be starting or has lost a majority; see `flotilla cluster describe`, then try again",
      NOT_CONTROLLER: "no controller leader right now; see `flotilla cluster describe`, then try again",
      NOT_COORDINATOR: "no broker coordinates the group right now (the cluster may still be starting); see `flotilla cluster describe`, then try again",
      TIMEOUT: "the cluster did not answer in time; see `flotilla cluster describe`, then try again",
      OFFSET_OUT_OF_RANGE: `see the valid range with \`flotilla topic describe ${topic}\``,
      INVALID_CONFIG: "check the --config values",
    };
    const hint = hints[e.code];
    const already = hint !== undefined && e.message.includes("flotilla ");
    return `${e.code}: ${e.message}${hint && !already ? `\n  ${hint}` : ""}`;
  }
  return (e as Error)?.message ?? String(e);
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parseCommand>;
  try {
    parsed = parseCommand(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    const where = e.command ? `flotilla ${e.command}` : "flotilla";
    io.stderr.write(`${where}: ${e.problems.length === 1 ? e.problems[0] : `${e.problems.length} problems:\n${e.problems.map((p) => `  - ${p}`).join("\n")}`}\n`);
    io.stderr.write(`run \`${where} --help\` for usage\n`);
    return EXIT_USAGE;
  }
  if ("help" in parsed) {
    io.stdout.write(parsed.help);
    return EXIT_OK;
  }
  const ctx: Ctx = { io, name: parsed.name, flags: parsed.flags, positionals: parsed.positionals, rest: parsed.rest, json: parsed.flags.get("json") === true };
  try {
    return await parsed.command.run(ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`flotilla ${parsed.name}: ${e.problems.join("; ")}\nrun \`flotilla ${parsed.name} --help\` for usage\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`flotilla ${parsed.name}: ${describeError(e, parsed.name, parsed.positionals)}\n`);
    return EXIT_FAILED;
  }
}

// ------------------------------------------------------------------------------------------------
// reassign, leader, broker decommission (ops/cli-operations.ts)

function operationsIo(ctx: Ctx): ops.OperationsIo {
  const stderr = ctx.io.stderr as { write(s: string): unknown; isTTY?: boolean };
  let stop = false;
  void ctx.io.interrupted?.().then(() => (stop = true));
  let shown = false;
  return {
    print: (json, text) => {
      if (shown) stderr.write("\n");
      shown = false;
      print(ctx, json, text);
    },
    progress: (line) => {
      if (!stderr.isTTY) return;
      stderr.write(`\r\x1b[2K${line}`);
      shown = true;
    },
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    interrupted: () => stop,
  };
}

// ------------------------------------------------------------------------------------------------
// produce

async function runProduce(ctx: Ctx): Promise<number> {
  const [topic] = ctx.positionals;
  const key = str(ctx, "key");
  const partition = int(ctx, "partition");
  const acks = (str(ctx, "acks") ?? "all") as "all" | "leader" | "none";
  const producer = client(ctx).producer({ acks, lingerMs: 5 });
  await producer.connect();
  const pending: Array<Promise<RecordMetadata[]>> = [];
  let failure: unknown;
  const report = (m: RecordMetadata): void => {
    const offset = m.offset < 0n ? null : m.offset.toString();
    print(ctx, { topic: m.topic, partition: m.partition, offset }, `${m.topic} partition ${m.partition} offset ${offset ?? "unknown (acks none)"}`);
  };
  const drainOne = async (): Promise<void> => {
    const p = pending.shift()!;
    try {
      for (const m of await p) report(m);
    } catch (e) {
      failure ??= e;
    }
  };
  try {
    const lines = createInterface({ input: ctx.io.stdin, crlfDelay: Infinity });
    for await (const line of lines) {
      if (failure) break;
      const p = producer.send({ topic, messages: [{ key: key ?? null, value: line, ...(partition !== undefined && { partition }) }] });
      p.catch(() => undefined);
      pending.push(p);
      if (pending.length >= 1000) await drainOne();
    }
    while (pending.length > 0 && !failure) await drainOne();
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  if (failure) throw failure;
  return EXIT_OK;
}

// ------------------------------------------------------------------------------------------------
// consume

function printRecord(ctx: Ctx, topic: string, partition: number, r: FetchedRecord): void {
  const key = r.key === null ? null : r.key.toString("utf8");
  const value = r.value === null ? null : r.value.toString("utf8");
  print(ctx, { topic, partition, offset: r.offset.toString(), key, value, timestamp: r.timestamp }, value ?? "null");
}

/**
 * consume --group: a group member that prints each record. Past --max, handlers refuse the records
 * (they are then not finished, so not committed) until the consumer has stopped.
 */
async function runGroupConsume(ctx: Ctx, topic: string, groupId: string): Promise<number> {
  const max = int(ctx, "max");
  const timeoutMs = int(ctx, "timeout-ms");
  const flotilla = client(ctx);
  const consumer = flotilla.consumer({ groupId });
  let count = 0;
  let lastRecordAt = Date.now();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  void ctx.io.interrupted?.().then(done);
  const idle = timeoutMs === undefined ? undefined : setInterval(() => Date.now() - lastRecordAt >= timeoutMs && done(), Math.min(timeoutMs, 200));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: ctx.flags.get("from-beginning") === true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (max !== undefined && count >= max) throw new Error("--max reached");
        printRecord(ctx, topic, partition, message);
        lastRecordAt = Date.now();
        if (max !== undefined && ++count >= max) done();
      },
    });
    await finished;
  } finally {
    clearInterval(idle);
    await consumer.disconnect();
    await flotilla.disconnect();
  }
  return EXIT_OK;
}

async function runConsume(ctx: Ctx): Promise<number> {
  const [topic] = ctx.positionals;
  const group = str(ctx, "group");
  if (group !== undefined) return runGroupConsume(ctx, topic, group);
  const max = int(ctx, "max");
  const timeoutMs = int(ctx, "timeout-ms");
  const flotilla = client(ctx);
  const admin = flotilla.admin();
  await admin.connect();
  let stop = false;
  let count = 0;
  let lastRecordAt = Date.now();
  try {
    const d = await admin.describeTopic(topic);
    const only = int(ctx, "partition");
    if (only !== undefined && only >= d.partitions.length) {
      throw new FlotillaError("INVALID_PARTITION", `topic ${topic} has ${d.partitions.length} partition${d.partitions.length === 1 ? "" : "s"} (0..${d.partitions.length - 1}), not ${only}`);
    }
    const parts = d.partitions.filter((p) => only === undefined || p.partition === only);
    const explicit = int(ctx, "offset");
    const fromBeginning = ctx.flags.get("from-beginning") === true;
    const startOf = (p: (typeof parts)[number]): bigint =>
      explicit !== undefined ? BigInt(explicit) : fromBeginning ? (p.logStartOffset ?? 0n) : (p.highWatermark ?? 0n);
    void ctx.io.interrupted?.().then(() => (stop = true));
    const loop = async (p: (typeof parts)[number]): Promise<void> => {
      let offset = startOf(p);
      while (!stop) {
        let res;
        try {
          res = await flotilla.fetch({ topic, partition: p.partition, offset, maxBytes: 1 << 20, maxWaitMs: 500 });
        } catch (e) {
          if (e instanceof FlotillaError && e.code === "OFFSET_OUT_OF_RANGE" && explicit === undefined) {
            // Retention moved the log start past us: start again at the oldest record kept.
            const again = (await admin.describeTopic(topic)).partitions.find((x) => x.partition === p.partition);
            offset = again?.logStartOffset ?? 0n;
            continue;
          }
          throw e;
        }
        for (const r of res.records) {
          if (stop) break;
          printRecord(ctx, topic, p.partition, r);
          offset = r.offset + 1n;
          lastRecordAt = Date.now();
          if (max !== undefined && ++count >= max) stop = true;
        }
        if (timeoutMs !== undefined && Date.now() - lastRecordAt >= timeoutMs) stop = true;
      }
    };
    await Promise.all(parts.map(loop)).finally(() => (stop = true));
  } finally {
    await admin.disconnect();
    await flotilla.disconnect();
  }
  return EXIT_OK;
}

// ------------------------------------------------------------------------------------------------
// dev, broker, passthroughs

function processInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const on = (): void => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve();
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

/**
 * Runs a local cluster until Ctrl-C / SIGTERM, which stop it; a second signal calls `kill` and
 * exits at once. `stop` runs however `body` ends.
 */
async function untilInterrupted(ctx: Ctx, say: (line: string) => void, cluster: { stop(): Promise<void>; kill(): void }, body: (interrupted: Promise<void>) => Promise<void>): Promise<number> {
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) {
      say("flotilla dev: second signal, killing everything now");
      cluster.kill();
      process.exit(1);
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await body((ctx.io.interrupted ?? processInterrupted)());
    return EXIT_OK;
  } finally {
    await cluster.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function runDev(ctx: Ctx): Promise<number> {
  if (ctx.flags.get("embedded") === true) return runEmbeddedDev(ctx);
  const { DevCluster } = await import("./dev.js");
  const n = int(ctx, "brokers") ?? 3;
  const say = (line: string): void => void ctx.io.stderr.write(`${line}\n`);
  const cluster = await DevCluster.start({ brokers: n, dir: str(ctx, "dir"), nats: str(ctx, "nats"), cluster: str(ctx, "cluster") ?? DEFAULT_CLUSTER, say });
  return untilInterrupted(ctx, say, cluster, async (interrupted) => {
    say(`flotilla dev: ${n} broker${n === 1 ? "" : "s"} starting on ${cluster.natsUrl} (cluster "${cluster.cluster}"), data in ${cluster.dir}`);
    const ready = await Promise.race([cluster.waitReady(), interrupted.then(() => undefined)]);
    if (ready) {
      const info = {
        nats: cluster.natsUrl,
        natsPid: cluster.natsPid ?? null,
        cluster: cluster.cluster,
        dir: cluster.dir,
        controllerLeader: ready.controllerLeader ?? null,
        brokers: cluster.brokers.map((b) => ({ id: b.id, pid: b.pid, metricsPort: b.metricsPort, metrics: b.metricsUrl, log: b.log })),
      };
      print(
        ctx,
        info,
        [
          `NATS: ${cluster.natsUrl}   cluster: ${cluster.cluster}   controller leader: broker ${ready.controllerLeader}`,
          ...cluster.brokers.map((b) => `broker ${b.id}: pid ${b.pid}, metrics ${b.metricsUrl}, log ${b.log}`),
          `try: flotilla topic create demo --partitions 3 --replication-factor 3${cluster.natsUrl === DEFAULT_SERVERS ? "" : ` --nats ${cluster.natsUrl}`}`,
          "Ctrl-C stops everything.",
        ].join("\n"),
      );
      await interrupted;
    }
    say("flotilla dev: stopping brokers and nats-server…");
  });
}

async function runEmbeddedDev(ctx: Ctx): Promise<number> {
  if (ctx.flags.has("nats")) throw new UsageError(["--embedded runs every broker in this process without NATS; leave out --nats (or leave out --embedded to use that NATS server)"], "dev");
  const [{ startEmbeddedDev }, { runDemo, demoLines }] = await Promise.all([import("./dev-embedded.js"), import("./demo.js")]);
  const n = int(ctx, "brokers") ?? 3;
  const say = (line: string): void => void ctx.io.stderr.write(`${line}\n`);
  say(`flotilla dev --embedded: starting ${n} broker${n === 1 ? "" : "s"} in this process (no NATS)…`);
  const dev = await startEmbeddedDev({ brokers: n, dir: str(ctx, "dir"), cluster: str(ctx, "cluster") ?? DEFAULT_CLUSTER });
  // Nothing to kill on a second signal: everything is in this process, which exits.
  return untilInterrupted(ctx, say, { stop: () => dev.stop(), kill: () => undefined }, async (interrupted) => {
    const demo = await runDemo(dev.cluster.flotilla({ clientId: "flotilla-demo" }));
    const { cluster, dir } = dev.cluster;
    print(
      ctx,
      { embedded: true, nats: null, cluster, dir, log: dev.log, controllerLeader: dev.controllerLeader, brokers: dev.brokers.map((b) => ({ id: b.id, metricsPort: b.metricsPort, metrics: b.metricsUrl })), demo },
      [
        `embedded cluster "${cluster}": ${n} broker${n === 1 ? "" : "s"} in this process, controller leader: broker ${dev.controllerLeader}, data in ${dir}, logs in ${dev.log}`,
        ...dev.brokers.map((b) => `broker ${b.id}: metrics ${b.metricsUrl}`),
        "",
        "The cluster is reachable only from inside this process (there is no NATS server for other programs to connect to),",
        "so here is the demo round trip, run in this process:",
        ...demoLines(demo),
        "",
        "Applications' tests can run the same cluster: import { startEmbeddedCluster } from \"flotilla/testing\".",
        "Ctrl-C stops everything.",
      ].join("\n"),
    );
    await interrupted;
    say("flotilla dev --embedded: stopping the brokers…");
  });
}

async function runBroker(ctx: Ctx): Promise<number> {
  const { runBrokerProcess } = await import("../broker/server/index.js");
  const f = ctx.flags;
  const bp = await runBrokerProcess({
    id: f.get("id") as number,
    dir: f.get("dir") as string,
    controllers: f.get("controllers") as number[],
    ...(f.has("nats") && { nats: f.get("nats") as string }),
    ...(f.has("cluster") && { cluster: f.get("cluster") as string }),
    ...(f.has("metrics-port") && { metricsPort: f.get("metrics-port") as number }),
    ...(f.has("nats-user") && { natsUser: f.get("nats-user") as string }),
    ...(f.has("nats-password") && { natsPassword: f.get("nats-password") as string }),
    ...(f.get("fault-control") === true && { faultControl: true }),
  });
  if (process.env.FLOTILLA_EXIT_WITH_PARENT === "1") {
    // Started by `flotilla dev`: when it goes away without stopping us, our stdin pipe closes.
    process.stdin.on("error", () => undefined);
    process.stdin.once("close", () => void bp.stop().then(() => process.exit(0), () => process.exit(1)));
    process.stdin.once("end", () => void bp.stop().then(() => process.exit(0), () => process.exit(1)));
    process.stdin.resume();
  }
  await bp.stopped;
  return EXIT_OK;
}

function passthrough(ctx: Ctx, script: string): Promise<number> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path, ...ctx.rest], { stdio: "inherit" });
    child.once("error", (e) => {
      ctx.io.stderr.write(`flotilla ${ctx.name}: could not run ${path}: ${e.message}; build first with \`npm run build\`\n`);
      resolve(EXIT_FAILED);
    });
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 + 2 : EXIT_FAILED)));
  });
}

// ------------------------------------------------------------------------------------------------

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === (await import("node:fs")).realpathSync(process.argv[1]);
if (isMain) {
  runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`flotilla: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}

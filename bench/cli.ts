#!/usr/bin/env node
/**
 * `npm run bench -- <workload> [options] [--json]`: runs one benchmark workload. With `--json` the
 * result is one JSON line on stdout; without, a readable summary. Progress goes to stderr on a
 * terminal. Workloads are a table: add a line to add one.
 */
import { runClusterWorkload, runCompare } from "./cluster-bench.js";
import { summarizeProfiles } from "./cpu-profile.js";
import { parseLogBenchArgs, runLogBench } from "./log-bench.js";
import { CLUSTER_WORKLOADS, WORKLOAD_USAGE, parseWorkloadArgs } from "./workload-options.js";

interface Workload {
  describe: string;
  run(args: string[]): Promise<object>;
}

const clusterWorkloads = Object.fromEntries(
  CLUSTER_WORKLOADS.map((name) => [
    name,
    {
      describe: {
        produce: "produce throughput and ack latency on a fresh 3-broker cluster.",
        consume: "read a filled topic from the beginning: records/s.",
        e2e: "produce → consume latency at a fixed rate (default 10000 records/s).",
      }[name],
      run: (args: string[]) => runClusterWorkload(name, parseWorkloadArgs(name, args), ["bench", name, ...args].join(" ")),
    },
  ]),
) as Record<string, Workload>;

const workloads: Record<string, Workload> = {
  ...clusterWorkloads,
  compare: {
    describe: `the same workload (--workload produce|consume|e2e, default produce) on Flotilla and on a 3-node NATS JetStream cluster; prints both and their ratio. ${WORKLOAD_USAGE}`,
    run: (args) => runCompare(parseWorkloadArgs("compare", args), ["bench", "compare", ...args].join(" ")),
  },
  profile: {
    describe: "bench profile DIR [--top N]: summarizes the brokers' CPU profiles a run wrote with --cpu-prof DIR (busy time, top functions by self and inclusive time).",
    run: async ([dir, ...rest]) => {
      if (dir === undefined || dir.startsWith("--")) throw new Error("bench profile: give the directory a run wrote with --cpu-prof DIR");
      const at = rest.indexOf("--top");
      const top = at >= 0 ? Number(rest[at + 1]) : 15;
      if (!Number.isSafeInteger(top) || top < 1) throw new Error(`bench profile: --top needs an integer ≥ 1, got ${rest[at + 1]}`);
      return { workload: "profile", profiles: summarizeProfiles(dir, top) };
    },
  },
  log: {
    describe: "SegmentLog append → durable (group commit) vs a raw write+fdatasync loop. Options: --seconds --batch-kib --record-bytes --in-flight --partitions --concurrent-cycles --rate <MB/s> --dir",
    run: (args) => runLogBench(parseLogBenchArgs(args)),
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const workload = name === undefined ? undefined : workloads[name];
  if (!workload) {
    process.stderr.write(`usage: bench <workload> [options] [--json]\n`);
    for (const [n, w] of Object.entries(workloads)) process.stderr.write(`  ${n}: ${w.describe}\n`);
    process.stderr.write(`produce, consume, e2e: ${WORKLOAD_USAGE}\n`);
    return name === undefined ? 0 : 2;
  }
  const result = await workload.run(args);
  if (args.includes("--json")) process.stdout.write(`${JSON.stringify(result)}\n`);
  else for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(20)} ${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env node
/**
 * `npm run bench -- <workload> [options] [--json]`: runs one benchmark workload. With `--json` the
 * result is one JSON line on stdout; without, a readable summary. Progress goes to stderr on a
 * terminal. Workloads are a table: add a line to add one.
 */
import { parseLogBenchArgs, runLogBench } from "./log-bench.js";

interface Workload {
  describe: string;
  run(args: string[]): Promise<object>;
}

const workloads: Record<string, Workload> = {
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
    return name === undefined ? 0 : 2;
  }
  const result = await workload.run(args);
  if (args.includes("--json")) process.stdout.write(`${JSON.stringify(result)}\n`);
  else for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(20)} ${String(v)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

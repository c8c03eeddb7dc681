#!/usr/bin/env node
/**
 * `npm run sim -- --seeds N [--from S] [--nodes 3|5|7] [--json] [--bug NAME] [--steps L] [--no-FAULT…]`
 *
 * Runs seeds S .. S+N-1 and stops at the first violation (unless --keep-going), printing the seed,
 * the property, the last events and the command that replays exactly that seed.
 */
import { performance } from "node:perf_hooks";
import { SIMULATED_BUGS, type BugName } from "../raft/types.js";
import { defaultOptions, FAULT_FLAGS, replayCommand, type SimOptions } from "./profile.js";
import { runSeed, type SeedResult } from "./run.js";

interface CliArgs {
  seeds: number;
  from: number;
  json: boolean;
  keepGoing: boolean;
  options: SimOptions;
}

const USAGE = `usage: npm run sim -- --seeds N [--from S] [--nodes 3|5|7] [--json] [--bug NAME] [--steps L] [--keep-going]
         [${FAULT_FLAGS.map((f) => `--no-${f}`).join(" ")}]
bugs: ${SIMULATED_BUGS.join(", ")}`;

function fail(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { seeds: 100, from: 1, json: false, keepGoing: false, options: defaultOptions() };
  const int = (i: number, name: string): number => {
    const v = Number(argv[i]);
    if (!Number.isSafeInteger(v) || v < 0) fail(`${name} needs a non-negative integer`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--seeds") args.seeds = int(++i, a);
    else if (a === "--from") args.from = int(++i, a);
    else if (a === "--steps") args.options.steps = int(++i, a);
    else if (a === "--nodes") {
      const n = int(++i, a);
      if (n !== 3 && n !== 5 && n !== 7) fail("--nodes must be 3, 5 or 7");
      args.options.nodes = n;
    } else if (a === "--bug") {
      const b = argv[++i];
      if (!(SIMULATED_BUGS as readonly string[]).includes(b)) fail(`unknown bug ${b} (the simulator catches: ${SIMULATED_BUGS.join(", ")})`);
      args.options.bug = b as BugName;
    } else if (a === "--json") args.json = true;
    else if (a === "--keep-going") args.keepGoing = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      const f = FAULT_FLAGS.find((name) => a === `--no-${name}`);
      if (f === undefined) fail(`unknown argument ${a}`);
      args.options[f] = false;
    }
  }
  return args;
}

function report(r: SeedResult, o: SimOptions): void {
  const v = r.violation;
  if (v === undefined) return;
  const out = process.stdout;
  out.write(`\nVIOLATION of ${v.property} at seed ${r.seed}\n  ${v.detail}\n  last events:\n`);
  for (const line of v.trace) out.write(`    ${line}\n`);
  out.write("  nodes at the end:\n");
  for (const line of v.state) out.write(`    ${line}\n`);
  out.write(`  replay: ${replayCommand(r.seed, o)}\n`);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const o = args.options;
  const total = { seeds: 0, steps: 0, violations: 0, elections: 0, committed: 0, reads: 0, confChanges: 0, snapshots: 0, maxRecoveryTicks: 0 };
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let lastProgress = started;
  for (let s = args.from; s < args.from + args.seeds; s++) {
    const r = runSeed(s, o);
    total.seeds++;
    total.steps += r.steps;
    total.elections += r.elections;
    total.committed += r.committed;
    total.reads += r.reads;
    total.confChanges += r.confChanges;
    total.snapshots += r.snapshots;
    total.maxRecoveryTicks = Math.max(total.maxRecoveryTicks, r.maxRecoveryTicks);
    if (r.violation !== undefined) {
      total.violations++;
      report(r, o);
      if (!args.keepGoing) break;
    }
    const t = performance.now();
    if (tty && t - lastProgress > 200) {
      lastProgress = t;
      const rate = (total.seeds * 1000) / (t - started);
      process.stderr.write(`\rseed ${s} (${total.seeds}/${args.seeds})  ${rate.toFixed(0)} seeds/s  violations ${total.violations}   `);
    }
  }
  if (tty) process.stderr.write("\r\x1b[K");
  const seconds = (performance.now() - started) / 1000;
  const seedsPerSec = Math.round((total.seeds / seconds) * 10) / 10;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ ...total, seedsPerSec })}\n`);
  } else {
    process.stdout.write(
      `${total.seeds} seeds, ${total.steps} ticks, ${total.violations} violations; ${total.elections} elections, ` +
        `${total.committed} proposals committed, ${total.reads} reads, ${total.confChanges} conf changes, ` +
        `${total.snapshots} snapshots installed; max recovery ${total.maxRecoveryTicks} ticks; ${seedsPerSec} seeds/s\n`,
    );
  }
  process.exitCode = total.violations > 0 ? 1 : 0;
}

main();

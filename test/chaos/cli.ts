#!/usr/bin/env node
/**
 * `npm run chaos -- --minutes M --seed S [--brokers 5] [--partitions 6] [--producers 3] [--dir DIR]`:
 * the fault suite (run.ts). Progress on stderr; ONE JSON line on stdout:
 * {"seed","minutes","faults":{kind:count},"faultCount","acked","unacked","read","lost","misplaced",
 * "duplicated","divergent","skipped","groupSkipped","crashes",…}. Exits 1 when any of those counts
 * is above zero or the run could not reach a verdict (`error`), naming the seed and the command
 * that replays it; 2 on bad arguments.
 */
import { parseArgs, type FlagSpec } from "../../ops/cli-args.js";
import { FAULT_KINDS, type FaultKind } from "./nemesis.js";
import { failed, runChaos, type ChaosOptions } from "./run.js";

const FLAGS: Record<string, FlagSpec> = {
  minutes: { kind: "string", value: "M", help: "how long the nemesis injects faults (a decimal, default 1)" },
  seed: { kind: "int", value: "S", help: "seeds the nemesis's choices (default: random, printed)" },
  brokers: { kind: "int", value: "N", min: 3, help: "broker processes (default 5; controllers are 1..3)" },
  partitions: { kind: "int", value: "P", min: 1, help: "partitions of the chaos topic, replication factor 3 (default 6)" },
  producers: { kind: "int", value: "K", min: 1, help: "idempotent producers (default 3)" },
  faults: { kind: "string", value: "K1,K2", help: `fault kinds to choose from (default all: ${FAULT_KINDS.join(",")})` },
  dir: { kind: "string", value: "DIR", help: "keep broker data and logs here (default: a temporary directory, removed when the run passes)" },
  "log-level": { kind: "string", value: "LEVEL", help: "broker log level (default info)" },
  help: { kind: "bool", help: "show this help" },
};

const USAGE = `usage: npm run chaos -- --minutes M --seed S [--brokers 5] [--partitions 6] [--producers 3] [--faults K1,K2] [--dir DIR] [--log-level info]\n${Object.entries(FLAGS)
  .map(([name, f]) => `  --${name}${f.value ? ` ${f.value}` : ""}: ${f.help}`)
  .join("\n")}\n`;

function options(argv: string[]): ChaosOptions | string {
  const { flags, positionals, problems } = parseArgs(argv, FLAGS);
  if (flags.get("help") === true) return USAGE;
  if (positionals.length > 0) problems.push(`unexpected argument ${positionals[0]}`);
  const minutesText = (flags.get("minutes") as string | undefined) ?? "1";
  const minutes = Number(minutesText);
  if (!(Number.isFinite(minutes) && minutes > 0 && minutes <= 24 * 60)) problems.push(`--minutes ${minutesText} must be a number of minutes above 0`);
  const faults = ((flags.get("faults") as string | undefined)?.split(",") ?? [...FAULT_KINDS]) as FaultKind[];
  const unknown = faults.filter((f) => !FAULT_KINDS.includes(f));
  if (unknown.length > 0 || faults.length === 0) problems.push(`--faults: ${unknown.length > 0 ? `unknown kinds ${unknown.join(",")}` : "none given"}; kinds are ${FAULT_KINDS.join(",")}`);
  if (problems.length > 0) throw new RangeError(`chaos: ${problems.join("; ")}\n${USAGE}`);
  return {
    minutes,
    seed: (flags.get("seed") as number | undefined) ?? Math.floor(Math.random() * 2 ** 31),
    brokers: (flags.get("brokers") as number | undefined) ?? 5,
    partitions: (flags.get("partitions") as number | undefined) ?? 6,
    producers: (flags.get("producers") as number | undefined) ?? 3,
    faults,
    ...(flags.has("dir") && { dir: flags.get("dir") as string }),
    logLevel: (flags.get("log-level") as string | undefined) ?? "info",
    // Timestamped (UTC), to line up with the brokers' logs.
    say: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`),
  };
}

async function main(): Promise<number> {
  let o: ChaosOptions | string;
  try {
    o = options(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}`);
    return 2;
  }
  if (typeof o === "string") {
    process.stdout.write(o);
    return 0;
  }
  const report = await runChaos(o);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  if (!failed(report)) return 0;
  const replay = `npm run chaos -- --minutes ${o.minutes} --seed ${o.seed} --brokers ${o.brokers} --partitions ${o.partitions} --producers ${o.producers} --faults ${o.faults.join(",")}`;
  process.stderr.write(
    `chaos: seed ${o.seed} FAILED${report.error ? `: ${report.error}` : ""}\n${report.examples.map((e) => `  ${e}\n`).join("")}` +
      `  broker logs and data: ${report.dir}\n  replay the seed's faults: ${replay}\n`,
  );
  return 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`chaos: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);

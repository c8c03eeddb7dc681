/**
 * The `flotilla` command's argument parser: a table of flags per command, `--flag value` and
 * `--flag=value`, boolean switches, repeatable `k=v` flags. It never stops at the first problem:
 * `parseArgs` returns every problem it found, so one run tells the user everything to fix.
 */

export type FlagKind = "string" | "int" | "bool" | "kv" | "ids";

export interface FlagSpec {
  kind: FlagKind;
  help: string;
  /** Shown in help: `--partitions P`. */
  value?: string;
  required?: boolean;
  /** Smallest accepted value of an "int" flag (default 0). */
  min?: number;
}

export type FlagValue = string | number | boolean | Record<string, string> | number[];

export interface Parsed {
  flags: Map<string, FlagValue>;
  positionals: string[];
  problems: string[];
  /** Arguments after a bare `--`, untouched. */
  rest: string[];
}

const INT = /^(0|[1-9][0-9]*)$/;

/**
 * Parses `argv` against `specs`. A flag given twice keeps the last value (a "kv" flag collects
 * every `k=v`; `--config a=1 b=2` also works: values that look like `k=v` after a kv flag are
 * taken by it).
 */
export function parseArgs(argv: readonly string[], specs: Record<string, FlagSpec>): Parsed {
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];
  const problems: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") || arg === "--") {
      if (arg.startsWith("-") && arg.length > 1 && !/^-[0-9]/.test(arg)) problems.push(`unknown option ${arg} (options are spelled --name)`);
      else positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const spec = specs[name];
    if (!spec) {
      problems.push(`unknown option --${name}`);
      if (eq < 0 && i + 1 < argv.length && !argv[i + 1].startsWith("--")) i++; // skip its value
      continue;
    }
    if (spec.kind === "bool") {
      if (eq >= 0) {
        const v = arg.slice(eq + 1);
        if (v !== "true" && v !== "false") problems.push(`--${name} takes no value (or =true / =false), got "${v}"`);
        else flags.set(name, v === "true");
      } else flags.set(name, true);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) value = argv[++i];
    if (value === undefined) {
      problems.push(`--${name} needs a value${spec.value ? ` (${spec.value})` : ""}`);
      continue;
    }
    switch (spec.kind) {
      case "string":
        if (value.length === 0) problems.push(`--${name} must not be empty`);
        else flags.set(name, value);
        break;
      case "int": {
        const min = spec.min ?? 0;
        if (!INT.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min) {
          problems.push(`--${name} "${value}" must be a whole number${min > 0 ? ` ≥ ${min}` : " ≥ 0"}`);
        } else flags.set(name, Number(value));
        break;
      }
      case "ids": {
        const parts = value.split(",").map((s) => s.trim());
        if (parts.some((p) => !INT.test(p) || Number(p) < 1)) problems.push(`--${name} "${value}" must be positive ids separated by commas, e.g. 1,2,3`);
        else flags.set(name, parts.map(Number));
        break;
      }
      case "kv": {
        const map = (flags.get(name) as Record<string, string> | undefined) ?? {};
        const take = (v: string): void => {
          const at = v.indexOf("=");
          if (at <= 0) problems.push(`--${name} "${v}" must be key=value`);
          else map[v.slice(0, at)] = v.slice(at + 1);
        };
        take(value);
        while (i + 1 < argv.length && /^[^-][^=]*=/.test(argv[i + 1])) take(argv[++i]);
        flags.set(name, map);
        break;
      }
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && !flags.has(name) && !problems.some((p) => p.startsWith(`--${name} `))) {
      problems.push(`--${name}${spec.value ? ` ${spec.value}` : ""} is required`);
    }
  }
  return { flags, positionals, problems, rest };
}

/** The options part of a help text. */
export function formatFlags(specs: Record<string, FlagSpec>): string {
  const rows = Object.entries(specs).map(([name, s]) => [`--${name}${s.value ? ` ${s.value}` : ""}`, s.help + (s.required ? " (required)" : "")]);
  const width = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`).join("\n");
}

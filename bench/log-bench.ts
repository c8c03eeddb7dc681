/**
 * `bench log`: append → durable throughput and latency of SegmentLog with group commit, against a
 * plain write-1-MiB-then-fdatasync loop on the same disk in the same run (`rawMbPerSec`).
 *
 * Records are 1 KiB; each append is one record batch as a producer would send it (`--batch-kib`,
 * 256 by default), its offsets stamped in place as a leader would. By default the benchmark keeps
 * `--in-flight` appends outstanding per partition (closed loop: the throughput figure). With
 * `--rate <MB/s>` it offers a fixed rate instead and measures latency from each append's scheduled
 * time, so a stall counts against every append it delays (no coordinated omission).
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { join } from "node:path";
import { pino } from "pino";
import { encodeRecordBatch, stampBatch, type RecordInput } from "../protocol/record-batch.js";
import { GroupCommitter, ThreadPoolSyncer } from "../broker/log/group-committer.js";
import { SegmentLog } from "../broker/log/segment-log.js";
import { percentile } from "./latency.js";
import { Progress } from "./progress.js";

export interface LogBenchOptions {
  seconds: number;
  recordBytes: number;
  batchKiB: number;
  inFlight: number;
  partitions: number;
  /** GroupCommitter.concurrentCycles (default 2, the committer's default here). */
  concurrentCycles: number;
  /** Offered load in MB/s (10^6 bytes); undefined = as fast as possible. */
  rate?: number;
  /** Where to make the run's directory (the disk to measure); default the OS temp dir. */
  dir?: string;
}

export interface LogBenchResult {
  workload: "log";
  records: number;
  size: number;
  batchBytes: number;
  partitions: number;
  inFlight: number;
  concurrentCycles: number;
  rate: number | null;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  appendsPerSec: number;
  fsyncsPerSec: number;
  flushCyclesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Flush cycles (fdatasync on the pool, as the committer sees it): what bounds the latency. */
  fsyncP50Ms: number;
  fsyncP99Ms: number;
  /** The longest flush cycle: one disk stall delays every append behind it, so it drives p99. */
  fsyncMaxMs: number;
  /** Event-loop delay p99 during the run: CPU starvation shows here, not in fsync times. */
  loopDelayP99Ms: number;
  /**
   * CPU time of this process (every thread: the event loop, the pool's fdatasyncs, the kernel's
   * share of both) per append during the run: unlike the latencies, barely moved by other load.
   */
  cpuUsPerAppend: number;
  rawMbPerSec: number;
  /** With --rate: p99 of the plain write+fdatasync loop offered the same rate and batch size, same run. */
  rawP99Ms: number | null;
}

export function parseLogBenchArgs(args: string[]): LogBenchOptions {
  const opts: LogBenchOptions = { seconds: 5, recordBytes: 1024, batchKiB: 256, inFlight: 8, partitions: 1, concurrentCycles: 2 };
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    const num = Number(value);
    const take = (key: "seconds" | "recordBytes" | "batchKiB" | "inFlight" | "partitions" | "concurrentCycles" | "rate"): void => {
      if (!Number.isFinite(num) || num <= 0) problems.push(`${flag} needs a positive number, got ${value}`);
      else opts[key] = num;
      i++;
    };
    if (flag === "--seconds") take("seconds");
    else if (flag === "--record-bytes") take("recordBytes");
    else if (flag === "--batch-kib") take("batchKiB");
    else if (flag === "--in-flight") take("inFlight");
    else if (flag === "--partitions") take("partitions");
    else if (flag === "--concurrent-cycles") take("concurrentCycles");
    else if (flag === "--rate") take("rate");
    else if (flag === "--dir") {
      opts.dir = value;
      i++;
    } else if (flag !== "--json") problems.push(`unknown option ${flag}`);
  }
  if (problems.length > 0) throw new Error(`bench log: ${problems.join("; ")}`);
  return opts;
}

/** MB/s of writing 1 MiB at a time to a fresh file and fdatasyncing after each. */
function rawWriteSyncLoop(dir: string, seconds: number): number {
  const path = join(dir, "raw.bin");
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(1 << 20, 0x61);
  let bytes = 0;
  const start = performance.now();
  try {
    while (performance.now() - start < seconds * 1000) {
      writeSync(fd, chunk, 0, chunk.length, bytes);
      fdatasyncSync(fd);
      bytes += chunk.length;
    }
  } finally {
    closeSync(fd);
    rmSync(path);
  }
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

/** A pool of batches of 1 KiB records; each is re-stamped with its base offset before an append. */
/** p99 (ms, from scheduled time) of writing `size` bytes + fdatasync at a fixed rate in a plain loop. */
function rawFixedRateP99(dir: string, seconds: number, size: number, mbPerSec: number): number {
  const path = join(dir, "raw-rate.bin");
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(size, 0x62);
  const interval = (size / (mbPerSec * 1e6)) * 1000;
  const latencies: number[] = [];
  const start = performance.now();
  let due = start;
  let position = 0;
  try {
    while (due - start < seconds * 1000) {
      while (performance.now() < due) {
        // Busy-wait: this loop is the baseline and must not add timer jitter of its own.
      }
      writeSync(fd, chunk, 0, size, position);
      fdatasyncSync(fd);
      position += size;
      latencies.push(performance.now() - due);
      due += interval;
    }
  } finally {
    closeSync(fd);
    rmSync(path);
  }
  return percentile(Float64Array.from(latencies).sort(), 0.99);
}

function batchPool(count: number, recordBytes: number, batchBytes: number): { batches: Buffer[]; records: number } {
  const records = Math.max(1, Math.floor(batchBytes / (recordBytes + 16)));
  const batches: Buffer[] = [];
  for (let b = 0; b < count; b++) {
    const input: RecordInput[] = [];
    for (let r = 0; r < records; r++) {
      const value = Buffer.alloc(recordBytes, 97 + ((b + r) % 26));
      input.push({ key: Buffer.from(`key-${r}`), value });
    }
    const bytes = encodeRecordBatch(input, { leaderEpoch: 1 });
    batches.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  return { batches, records };
}

export async function runLogBench(opts: LogBenchOptions): Promise<LogBenchResult> {
  // A fresh directory per run (under --dir when given, to pick the disk), removed afterwards.
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), "flotilla-bench-log-"));
  const progress = new Progress("log");
  try {
    progress.update("raw write+fdatasync loop");
    const rawMbPerSec = rawWriteSyncLoop(dir, Math.min(3, opts.seconds));
    let rawP99Ms: number | null = null;
    if (opts.rate !== undefined) {
      progress.update("raw write+fdatasync loop at the offered rate");
      rawP99Ms = rawFixedRateP99(dir, Math.min(3, opts.seconds), Math.floor(opts.batchKiB * 1024), opts.rate);
    }

    const cycleMs: number[] = [];
    const committer = new GroupCommitter(new ThreadPoolSyncer(), { onCycle: (c) => cycleMs.push(c.durationMs), concurrentCycles: opts.concurrentCycles });
    const logger = pino({ level: "warn" }, pino.destination(2));
    const logs = await Promise.all(
      Array.from({ length: opts.partitions }, (_, p) => SegmentLog.open({ dir: join(dir, `p${p}`), committer, logger })),
    );
    const { batches: template, records: perBatch } = batchPool(1, opts.recordBytes, opts.batchKiB * 1024);
    const batchBytes = template[0].length;
    // Each in-flight slot owns its buffer: it is stamped again only after its append resolved.
    const slots = logs.map(() => Array.from({ length: opts.inFlight }, () => Buffer.from(template[0])));

    const latencies: number[] = [];
    let appends = 0;
    const nextIndex = logs.map(() => 1);
    const nextOffset = logs.map(() => 0n);
    const appendOne = async (p: number, slot: number, scheduledAt: number): Promise<void> => {
      const batch = slots[p][slot];
      stampBatch(batch, 0, nextOffset[p], 1);
      nextOffset[p] += BigInt(perBatch);
      await logs[p].append([{ kind: "batch", index: nextIndex[p]++, term: 1, batch }]);
      latencies.push(performance.now() - scheduledAt);
      appends++;
    };

    // Warm-up, not measured: worker threads, JIT, the first segment file.
    progress.update("warming up");
    const warmUntil = performance.now() + Math.min(1000, opts.seconds * 200);
    await Promise.all(
      logs.map(async (_, p) => {
        while (performance.now() < warmUntil) await appendOne(p, 0, performance.now());
      }),
    );
    latencies.length = 0;
    appends = 0;
    cycleMs.length = 0;

    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const before = { ...committer.stats };
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    const ticker = setInterval(() => {
      const s = (performance.now() - start) / 1000;
      progress.update(`${s.toFixed(0)}s  ${((appends * batchBytes) / 1e6 / s).toFixed(0)} MB/s  ${appends} appends`);
    }, 500);
    const end = start + opts.seconds * 1000;
    if (opts.rate === undefined) {
      const loop = async (p: number, slot: number): Promise<void> => {
        while (performance.now() < end) await appendOne(p, slot, performance.now());
      };
      await Promise.all(logs.flatMap((_, p) => slots[p].map((_, slot) => loop(p, slot))));
    } else {
      // Fixed rate: one append every `interval` ms, spread over partitions. A busy disk never
      // skips an append: when every buffer is in flight another one is made.
      const interval = (batchBytes / (opts.rate * 1e6)) * 1000 * logs.length;
      const free = logs.map((_, p) => slots[p].map((_, i) => i));
      const pending: Array<Promise<void>> = [];
      let due = start;
      while (performance.now() < end) {
        const now = performance.now();
        while (due <= now) {
          for (let p = 0; p < logs.length; p++) {
            let slot = free[p].pop();
            if (slot === undefined) slot = slots[p].push(Buffer.from(template[0])) - 1;
            const taken = slot;
            pending.push(appendOne(p, taken, due).then(() => void free[p].push(taken)));
          }
          due += interval;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, Math.min(1, due - performance.now()))));
      }
      await Promise.all(pending);
    }
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    loopDelay.disable();
    clearInterval(ticker);
    const fsyncs = committer.stats.fsyncs - before.fsyncs;
    const cycles = committer.stats.cycles - before.cycles;
    for (const log of logs) await log.close();
    await committer.close();

    const sorted = Float64Array.from(latencies).sort();
    const sortedCycles = Float64Array.from(cycleMs).sort();
    const round = (n: number, d = 2): number => Number(n.toFixed(d));
    return {
      workload: "log",
      records: appends * perBatch,
      size: opts.recordBytes,
      batchBytes,
      partitions: opts.partitions,
      inFlight: opts.inFlight,
      concurrentCycles: opts.concurrentCycles,
      rate: opts.rate ?? null,
      seconds: round(seconds),
      recordsPerSec: Math.round((appends * perBatch) / seconds),
      mbPerSec: round((appends * batchBytes) / 1e6 / seconds, 1),
      appendsPerSec: Math.round(appends / seconds),
      fsyncsPerSec: Math.round(fsyncs / seconds),
      flushCyclesPerSec: Math.round(cycles / seconds),
      p50Ms: round(percentile(sorted, 0.5), 3),
      p99Ms: round(percentile(sorted, 0.99), 3),
      p999Ms: round(percentile(sorted, 0.999), 3),
      fsyncP50Ms: round(percentile(sortedCycles, 0.5), 3),
      fsyncP99Ms: round(percentile(sortedCycles, 0.99), 3),
      fsyncMaxMs: round(sortedCycles.length > 0 ? sortedCycles[sortedCycles.length - 1] : 0, 3),
      loopDelayP99Ms: round(loopDelay.percentile(99) / 1e6, 3),
      cpuUsPerAppend: round((cpu.user + cpu.system) / Math.max(1, appends), 1),
      rawMbPerSec: round(rawMbPerSec, 1),
      rawP99Ms: rawP99Ms === null ? null : round(rawP99Ms, 3),
    };
  } finally {
    progress.done();
    rmSync(dir, { recursive: true, force: true });
  }
}

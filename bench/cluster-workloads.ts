/**
 * The workloads, written once against `BenchSystem` so Flotilla and JetStream are measured alike.
 *
 * - produce: (after a warm-up of a tenth as many) K producers send `records` values (closed loop: as fast as acks come back, with a
 *   bounded number of bytes outstanding; or `--rate`: a fixed schedule). Latency of a record = its
 *   ack time less the time it was due to be sent (the schedule's time in rate mode, so a stall
 *   counts against every record it delays: no coordinated omission).
 * - consume: fills the topic first (not measured), then reads it from the beginning on every
 *   partition at once. Latency = the time each successive MiB of records took to arrive.
 * - e2e: readers tail the topic while producers send at the rate (after the same warm-up as
 *   produce, read and not measured); latency of a record = when a reader got it less when it was
 *   due to be sent (carried in its first 8 bytes).
 *
 * Values are incompressible random bytes; records go to partitions round robin, a chunk at a time.
 */
import { randomBytes } from "node:crypto";
import type { BenchProducer, BenchSystem, SystemName } from "./bench-system.js";
import { LatencyRecorder, Timeline } from "./latency.js";
import { totalCpuSeconds } from "./process-cpu.js";
import type { Progress } from "./progress.js";
import type { ClusterWorkload, WorkloadOptions } from "./workload-options.js";

/** Records per `send` call (one partition each). */
const CHUNK_RECORDS = 64;
/** Throughput-over-time resolution. */
const TIMELINE_BIN_MS = 250;
/** Consume latency is measured per this many bytes received. */
const CONSUME_LATENCY_BYTES = 1 << 20;
const PROGRESS_EVERY_MS = 250;
/** produce sends a tenth of its records first, up to this many, and measures only the rest. */
const WARM_UP_MAX_RECORDS = 20_000;

/** The one-line summary every workload prints (CONTRACTS.md's fields and a few more). */
export interface WorkloadSummary {
  workload: ClusterWorkload;
  system: SystemName;
  records: number;
  size: number;
  partitions: number;
  replicationFactor: number;
  acks: string;
  producers: number;
  rate: number | null;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** CPU time per record of the servers (brokers and nats-server; JetStream's nats-servers), null when not ours. */
  serverCpuUsPerRecord: number | null;
  /** CPU time per record of this benchmark process (the clients). */
  clientCpuUsPerRecord: number;
}

/** A finished run: the summary, and the raw figures the HTML report draws. */
export interface WorkloadRun {
  summary: WorkloadSummary;
  latency: LatencyRecorder;
  timeline: Timeline;
}

/** Values of `size` bytes: random, with the time the record is due (performance.now()) in the first 8. */
class ValueMaker {
  private readonly pool: Buffer;
  private at = 0;

  constructor(private readonly size: number) {
    this.pool = randomBytes(size + 4096);
  }

  make(dueAt: number): Buffer {
    const v = Buffer.allocUnsafe(this.size);
    this.pool.copy(v, 0, this.at, this.at + this.size);
    this.at = (this.at + 61) % 4096;
    v.writeDoubleLE(dueAt, 0);
    return v;
  }
}

const dueTimeOf = (value: Uint8Array): number => Buffer.from(value.buffer, value.byteOffset, 8).readDoubleLE(0);

interface SendStats {
  /** Called once per acknowledged chunk with when each of its records was due. */
  onAck(now: number, dueTimes: number[]): void;
}

/**
 * Sends `count` records from one producer: closed loop, or at `ratePerSec` starting at `start`.
 * Chunks rotate over partitions; at most `window` records are unacknowledged in closed loop.
 */
async function drive(producer: BenchProducer, count: number, o: WorkloadOptions, window: number, ratePerSec: number | undefined, start: number, stats: SendStats, failed: AbortSignal): Promise<void> {
  const values = new ValueMaker(o.size);
  const maxOutstanding = Math.max(CHUNK_RECORDS, window);
  const pending = new Set<Promise<void>>();
  let outstanding = 0;
  let issued = 0;
  let partition = 0;
  const issue = (dueTimes: number[]): void => {
    const chunk = dueTimes.map((t) => values.make(t));
    const p = producer.send(partition, chunk).then(() => {
      outstanding -= chunk.length;
      pending.delete(p);
      stats.onAck(performance.now(), dueTimes);
    });
    partition = (partition + 1) % o.partitions;
    outstanding += chunk.length;
    issued += chunk.length;
    pending.add(p);
  };
  while (issued < count && !failed.aborted) {
    if (ratePerSec === undefined) {
      if (outstanding + CHUNK_RECORDS > maxOutstanding) await Promise.race(pending);
      else {
        const now = performance.now();
        issue(Array.from({ length: Math.min(CHUNK_RECORDS, count - issued) }, () => now));
      }
    } else {
      const due = Math.min(count, Math.floor(((performance.now() - start) * ratePerSec) / 1000) + 1);
      while (issued < due) {
        const first = issued;
        issue(Array.from({ length: Math.min(CHUNK_RECORDS, due - issued) }, (_, i) => start + ((first + i) * 1000) / ratePerSec));
      }
      // The next record's due time; timers fire late, and the schedule catches up with a chunk.
      await new Promise((r) => setTimeout(r, Math.max(0, start + (issued * 1000) / ratePerSec - performance.now())));
    }
  }
  await Promise.all(pending);
}

/** Runs `count` records through `o.producers` producers; the first error aborts them all and is thrown. */
async function produceAll(system: BenchSystem, count: number, o: WorkloadOptions, stats: SendStats): Promise<void> {
  const producers = await Promise.all(Array.from({ length: o.producers }, () => system.producer()));
  const failure = new AbortController();
  let error: unknown;
  const start = performance.now();
  try {
    await Promise.all(
      producers.map((p, k) => {
        const share = Math.floor(count / o.producers) + (k < count % o.producers ? 1 : 0);
        return drive(p, share, o, Math.ceil(system.window / o.producers), o.rate === undefined ? undefined : o.rate / o.producers, start, stats, failure.signal).catch((e: unknown) => {
          error ??= e;
          failure.abort();
        });
      }),
    );
  } finally {
    await Promise.all(producers.map((p) => p.close().catch(() => undefined)));
  }
  if (error !== undefined) throw error;
}

/** Records produce and e2e send first, unmeasured. */
const warmUpRecords = (o: WorkloadOptions): number => Math.min(WARM_UP_MAX_RECORDS, Math.ceil(o.records / 10));

/**
 * Reads every partition until `count` records arrived (or `stop` is called), calling `onValues`
 * for each delivery. A reader that fails stops the others, and `finished` rejects. `seen(n)`
 * resolves once n records arrived (or the readers ended).
 */
function readAll(system: BenchSystem, count: number, o: WorkloadOptions, onValues: (now: number, values: Uint8Array[]) => void): { finished: Promise<void>; stop(): void; seen(n: number): Promise<void> } {
  const done = new AbortController();
  let seen = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const readers = Array.from({ length: o.partitions }, (_, p) =>
    system.read(
      p,
      (values) => {
        seen += values.length;
        onValues(performance.now(), values);
        for (let i = waiters.length - 1; i >= 0; i--) if (seen >= waiters[i].n) waiters.splice(i, 1)[0].resolve();
        if (seen >= count) done.abort();
      },
      done.signal,
    ),
  );
  const finished = Promise.all(readers).then(() => undefined);
  finished.catch(() => done.abort());
  const ended = finished.catch(() => undefined);
  return {
    finished,
    stop: () => done.abort(),
    seen: (n) => (seen >= n ? Promise.resolve() : Promise.race([ended, new Promise<void>((resolve) => waiters.push({ n, resolve }))])),
  };
}

interface CpuSpent {
  server: number | undefined;
  client: number;
}

/** CPU seconds the servers and this process spend from now until the returned function is called. */
function cpuMeter(system: BenchSystem): () => CpuSpent {
  const server = system.serverPids.length > 0 ? totalCpuSeconds(system.serverPids) : undefined;
  const client = process.cpuUsage();
  return () => {
    const serverNow = server === undefined ? undefined : totalCpuSeconds(system.serverPids);
    const c = process.cpuUsage(client);
    return { server: serverNow === undefined || server === undefined ? undefined : serverNow - server, client: (c.user + c.system) / 1e6 };
  };
}

function summarize(workload: ClusterWorkload, system: SystemName, o: WorkloadOptions, records: number, seconds: number, latency: LatencyRecorder, cpu: CpuSpent): WorkloadSummary {
  const r = (n: number, d: number): number => Number(n.toFixed(d));
  const perRecord = (cpuSeconds: number): number => r((cpuSeconds * 1e6) / Math.max(1, records), 1);
  return {
    workload,
    system,
    records,
    size: o.size,
    partitions: o.partitions,
    replicationFactor: o.replicationFactor,
    acks: o.acks,
    producers: o.producers,
    rate: o.rate ?? null,
    seconds: r(seconds, 3),
    recordsPerSec: Math.round(records / seconds),
    mbPerSec: r((records * o.size) / 1e6 / seconds, 1),
    p50Ms: r(latency.percentile(0.5), 3),
    p90Ms: r(latency.percentile(0.9), 3),
    p99Ms: r(latency.percentile(0.99), 3),
    p999Ms: r(latency.percentile(0.999), 3),
    maxMs: r(latency.percentile(1), 3),
    serverCpuUsPerRecord: cpu.server === undefined ? null : perRecord(cpu.server),
    clientCpuUsPerRecord: perRecord(cpu.client),
  };
}

/** Shows records done and the rate so far, every PROGRESS_EVERY_MS, until the returned stop. */
function showProgress(progress: Progress, label: string, start: number, total: number, done: () => number): () => void {
  const timer = setInterval(() => {
    const n = done();
    const s = (performance.now() - start) / 1000;
    progress.update(`${label}: ${n}/${total} records, ${Math.round(n / s)} records/s`);
  }, PROGRESS_EVERY_MS);
  return () => {
    clearInterval(timer);
    progress.done();
  };
}

export async function runWorkload(workload: ClusterWorkload, system: BenchSystem, o: WorkloadOptions, progress: Progress): Promise<WorkloadRun> {
  const latency = new LatencyRecorder();
  let completed = 0;
  let last = 0;
  let timeline = new Timeline(performance.now(), TIMELINE_BIN_MS);
  const label = `${system.name} ${workload}`;

  // e2e readers tail the topic from before the warm-up; they measure only records due after
  // `start`, set when the warm-up's records have all been read.
  let start = Infinity;
  const e2eReaders =
    workload === "e2e"
      ? readAll(system, warmUpRecords(o) + o.records, o, (now, values) => {
          for (const v of values) {
            const due = dueTimeOf(v);
            if (due < start) continue;
            latency.record(now - due);
            completed++;
            timeline.add(now, 1);
            last = now;
          }
        })
      : undefined;
  if (workload === "produce" || workload === "e2e") {
    // Warm-up, not measured: connections, JIT, first segment files, on both systems alike.
    const warmUp = warmUpRecords(o);
    const stopWarmUp = showProgress(progress, `${system.name} warming up`, performance.now(), warmUp, () => completed);
    try {
      await produceAll(system, warmUp, o, { onAck: (_, due) => void (completed += due.length) });
      if (e2eReaders) await e2eReaders.seen(warmUp);
    } catch (e) {
      e2eReaders?.stop();
      throw e;
    } finally {
      stopWarmUp();
    }
    completed = 0;
  } else if (workload === "consume") {
    const fillStart = performance.now();
    const stopFill = showProgress(progress, `${system.name} filling the topic`, fillStart, o.records, () => completed);
    try {
      await produceAll(system, o.records, { ...o, rate: undefined }, { onAck: (_, due) => void (completed += due.length) });
    } finally {
      stopFill();
    }
    completed = 0;
  }

  const cpu = cpuMeter(system);
  start = performance.now();
  timeline = new Timeline(start, TIMELINE_BIN_MS);
  const stop = showProgress(progress, label, start, o.records, () => completed);
  try {
    if (workload === "produce") {
      await produceAll(system, o.records, o, {
        onAck(now, dueTimes) {
          for (const due of dueTimes) latency.record(now - due);
          completed += dueTimes.length;
          timeline.add(now, dueTimes.length);
          last = now;
        },
      });
    } else if (workload === "consume") {
      let bytes = 0;
      let chunkStart = start;
      const readers = readAll(system, o.records, o, (now, values) => {
        completed += values.length;
        timeline.add(now, values.length);
        last = now;
        bytes += values.length * o.size;
        while (bytes >= CONSUME_LATENCY_BYTES) {
          latency.record(now - chunkStart);
          chunkStart = now;
          bytes -= CONSUME_LATENCY_BYTES;
        }
      });
      await readers.finished;
    } else {
      const readers = e2eReaders!;
      const producing = produceAll(system, o.records, o, { onAck: () => undefined });
      producing.catch(() => readers.stop());
      await Promise.all([producing, readers.finished]);
    }
  } finally {
    stop();
  }
  const spent = cpu();
  return { summary: summarize(workload, system.name, o, completed, (last - start) / 1000, latency, spent), latency, timeline };
}

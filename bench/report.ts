/**
 * `--report FILE.html`: one self-contained page (inline SVG and CSS, no scripts, no external
 * assets) with, for each system run: throughput over time, the latency histogram, and a table of
 * throughput and percentiles. A pure function of the runs, so tests can check what it draws.
 */
import { logHistogram } from "./latency.js";
import type { WorkloadRun } from "./cluster-workloads.js";

const WIDTH = 720;
const HEIGHT = 260;
const MARGIN = { left: 70, right: 20, top: 20, bottom: 40 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

export interface ReportInput {
  title: string;
  /** The command line that produced the runs. */
  command: string;
  runs: WorkloadRun[];
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A round axis maximum ≥ `v`: 1, 2 or 5 times a power of ten. */
export function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

interface Series {
  name: string;
  color: string;
  points: Array<[number, number]>;
}

/** A line chart of `series`; `logX` puts x on a log10 scale (values must be > 0). */
function lineChart(series: Series[], xLabel: string, yLabel: string, logX: boolean): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<p>no data</p>`;
  const fx = (x: number): number => (logX ? Math.log10(x) : x);
  const xs = all.map(([x]) => fx(x));
  const xMin = logX ? Math.floor(Math.min(...xs)) : 0;
  const xMax = logX ? Math.ceil(Math.max(...xs)) : niceCeiling(Math.max(...xs));
  const yMax = niceCeiling(Math.max(...all.map(([, y]) => y)));
  const w = WIDTH - MARGIN.left - MARGIN.right;
  const h = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number): number => MARGIN.left + ((fx(x) - xMin) / Math.max(1e-9, xMax - xMin)) * w;
  const py = (y: number): number => MARGIN.top + h - (y / yMax) * h;
  const parts: string[] = [];
  const xTicks = logX ? Array.from({ length: xMax - xMin + 1 }, (_, i) => 10 ** (xMin + i)) : [0, 0.25, 0.5, 0.75, 1].map((f) => f * xMax);
  for (const t of xTicks) {
    parts.push(`<line x1="${px(t)}" y1="${MARGIN.top}" x2="${px(t)}" y2="${MARGIN.top + h}" class="grid"/>`);
    parts.push(`<text x="${px(t)}" y="${MARGIN.top + h + 16}" text-anchor="middle">${formatNumber(t)}</text>`);
  }
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${MARGIN.left}" y1="${py(f * yMax)}" x2="${MARGIN.left + w}" y2="${py(f * yMax)}" class="grid"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${py(f * yMax) + 4}" text-anchor="end">${formatNumber(f * yMax)}</text>`);
  }
  parts.push(`<text x="${MARGIN.left + w / 2}" y="${HEIGHT - 6}" text-anchor="middle">${escapeHtml(xLabel)}</text>`);
  parts.push(`<text x="14" y="${MARGIN.top + h / 2}" text-anchor="middle" transform="rotate(-90 14 ${MARGIN.top + h / 2})">${escapeHtml(yLabel)}</text>`);
  series.forEach((s, i) => {
    const d = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${d}"><title>${escapeHtml(s.name)}</title></polyline>`);
    parts.push(`<rect x="${MARGIN.left + 10}" y="${MARGIN.top + 6 + i * 16}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${MARGIN.left + 26}" y="${MARGIN.top + 15 + i * 16}">${escapeHtml(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">${parts.join("")}</svg>`;
}

function formatNumber(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toPrecision(3)}`;
}

const runName = (r: WorkloadRun): string => `${r.summary.system} ${r.summary.workload}`;

/** Throughput over time: records/s in each timeline bin, x in seconds since the run started. */
function throughputSeries(runs: WorkloadRun[]): Series[] {
  return runs.map((r, i) => ({
    name: runName(r),
    color: COLORS[i % COLORS.length],
    points: r.timeline.ratePerSec().map((rate, bin) => [((bin + 1) * r.timeline.binMs) / 1000, rate] as [number, number]),
  }));
}

/** Latency histogram: percent of records in each log-spaced bucket, at the bucket's upper bound. */
function histogramSeries(runs: WorkloadRun[]): Series[] {
  return runs.map((r, i) => ({
    name: runName(r),
    color: COLORS[i % COLORS.length],
    points: logHistogram(r.latency.ascending()).map((b) => [b.upToMs, (100 * b.count) / r.latency.count] as [number, number]),
  }));
}

function summaryTable(runs: WorkloadRun[]): string {
  const cols = ["system", "workload", "records", "records/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"] as const;
  const rows = runs.map((r) => {
    const s = r.summary;
    return [s.system, s.workload, s.records, s.recordsPerSec, s.mbPerSec, s.p50Ms, s.p90Ms, s.p99Ms, s.p999Ms, s.maxMs].map((v) => `<td>${escapeHtml(String(v))}</td>`).join("");
  });
  return `<table><tr>${cols.map((c) => `<th>${c}</th>`).join("")}</tr>${rows.map((r) => `<tr>${r}</tr>`).join("")}</table>`;
}

export function renderReport(input: ReportInput): string {
  const s = input.runs[0]?.summary;
  const setup = s
    ? `${s.records} records of ${s.size} bytes, ${s.partitions} partition(s), replication factor ${s.replicationFactor}, acks=${s.acks}, ${s.producers} producer(s), ${s.rate === null ? "closed loop" : `${s.rate} records/s offered`}`
    : "";
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
svg text { font-size: 11px; fill: #333; } svg .grid { stroke: #eee; }
code { background: #f4f4f4; padding: 2px 4px; }
</style></head><body>
<h1>${escapeHtml(input.title)}</h1>
<p>${escapeHtml(setup)}</p>
<p><code>${escapeHtml(input.command)}</code></p>
${summaryTable(input.runs)}
<h2>Throughput over time</h2>
${lineChart(throughputSeries(input.runs), "seconds", "records/s", false)}
<h2>Latency histogram</h2>
${lineChart(histogramSeries(input.runs), "latency (ms, log scale)", "% of records", true)}
</body></html>
`;
}

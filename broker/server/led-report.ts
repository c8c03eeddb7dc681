/**
 * The partitions a broker leads, as its heartbeats report them to the controller leader — only
 * what changed since the report the controller last confirmed: at rest (a thousand partitions led,
 * nothing written) a heartbeat carries none, instead of every partition twice a second.
 *
 * Each report has a number (`ledSeq`). A full report has no `ledBase`; a change report names the
 * report it changes (`ledBase`) and lists the partitions whose figures changed (`led`) and those no
 * longer led (`ledGone`). The controller applies a change report only on top of that very base and
 * confirms the number it now holds in its reply; anything else (a new controller leader, a lost
 * reply, a broker that restarted) makes the broker send a full report next.
 */
import type { LedPartition } from "./controller-messages.js";

/** [topic, partition] of a partition no longer led. */
export type GonePartition = [topic: string, partition: number];

/** The report fields of a heartbeat. */
export interface LedReport {
  led: LedPartition[];
  ledSeq?: number;
  ledBase?: number;
  ledGone?: GonePartition[];
}

function keyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function sameFigures(a: LedPartition, b: LedPartition): boolean {
  if (a[2] !== b[2] || a[3] !== b[3] || a[4] !== b[4]) return false;
  const x = a[5];
  const y = b[5];
  if (x === undefined || y === undefined) return x === y;
  return x.length === y.length && x.every((id, i) => id === y[i]);
}

/** The broker's side: what to report next, given what the controller confirmed. */
export class LedReporter {
  private seq = 0;
  /** The report the controller confirmed holding, by partition; undefined: send a full one. */
  private confirmed: { seq: number; byKey: Map<string, LedPartition> } | undefined;
  /** The last report sent, until its reply confirms or refuses it. */
  private sent: { seq: number; byKey: Map<string, LedPartition> } | undefined;

  /** The report for the next heartbeat, from the partitions led now. */
  next(current: readonly LedPartition[]): LedReport {
    const seq = ++this.seq;
    const byKey = new Map<string, LedPartition>();
    for (const p of current) byKey.set(keyOf(p[0], p[1]), p);
    this.sent = { seq, byKey };
    const base = this.confirmed;
    if (!base) return { led: [...current], ledSeq: seq };
    const changed = current.filter((p) => {
      const before = base.byKey.get(keyOf(p[0], p[1]));
      return before === undefined || !sameFigures(before, p);
    });
    const gone: GonePartition[] = [];
    for (const [k, p] of base.byKey) if (!byKey.has(k)) gone.push([p[0], p[1]]);
    return { led: changed, ledSeq: seq, ledBase: base.seq, ...(gone.length > 0 && { ledGone: gone }) };
  }

  /** The controller's reply to the last report: the report number it holds now (undefined: none of ours). */
  onReply(heldSeq: number | undefined): void {
    this.confirmed = heldSeq !== undefined && heldSeq === this.sent?.seq ? this.sent : undefined;
    this.sent = undefined;
  }

  /** The heartbeat failed: whether the controller applied it is unknown, so start over with a full report. */
  onFailure(): void {
    this.confirmed = undefined;
    this.sent = undefined;
  }
}

/** The controller leader's side: each broker's last report, kept current by full and change reports. */
export class LedReports {
  private readonly brokers = new Map<number, { seq: number | undefined; byKey: Map<string, LedPartition> }>();

  /** Applies a broker's report; returns the report number now held for it (undefined: a change report that did not fit, or none numbered). */
  apply(brokerId: number, r: LedReport): number | undefined {
    if (r.ledBase === undefined) {
      const byKey = new Map<string, LedPartition>();
      for (const p of r.led) byKey.set(keyOf(p[0], p[1]), p);
      this.brokers.set(brokerId, { seq: r.ledSeq, byKey });
      return r.ledSeq;
    }
    const held = this.brokers.get(brokerId);
    if (!held || held.seq === undefined || held.seq !== r.ledBase || r.ledSeq === undefined) return undefined;
    for (const p of r.led) held.byKey.set(keyOf(p[0], p[1]), p);
    for (const [topic, partition] of r.ledGone ?? []) held.byKey.delete(keyOf(topic, partition));
    held.seq = r.ledSeq;
    return held.seq;
  }

  /** Every broker's led partitions as last reported. */
  *entries(): IterableIterator<[brokerId: number, led: Iterable<LedPartition>]> {
    for (const [id, b] of this.brokers) yield [id, b.byKey.values()];
  }

  clear(): void {
    this.brokers.clear();
  }
}

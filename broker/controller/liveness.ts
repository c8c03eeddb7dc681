import type { MetadataImage } from "./metadata-image.js";
import type { FenceBrokerRecord, UnfenceBrokerRecord } from "./metadata-records.js";

/**
 * Broker liveness, as the controller leader sees it: heartbeat times in memory (they are not in the
 * metadata log; see metadata-records.ts), and the fence / unfence records they call for.
 *
 * - A broker is fenced when it has not heartbeated for `sessionTimeoutMs`, or when it asks to be
 *   (a graceful shutdown: fenced first, its partitions move leadership away before it stops).
 * - A fenced broker is unfenced when it heartbeats with its current epoch and has applied the
 *   metadata log at least up to its own registration: it knows the cluster it is joining, so it can
 *   take replicas and leadership.
 *
 * A new controller leader knows no heartbeat times. It counts every broker as heard from when it
 * took over (`since`), so a controller failover does not fence the whole cluster; brokers then have
 * a full session to show up. Pure: the caller passes the time in and appends the records.
 */

export interface Heartbeat {
  readonly brokerId: number;
  readonly brokerEpoch: number;
  /** The highest metadata log index the broker has applied. */
  readonly appliedIndex: number;
  /** The broker is shutting down and wants its partitions led elsewhere. */
  readonly shuttingDown?: boolean;
}

/** What the controller answers a heartbeat. */
export type HeartbeatReply =
  | { readonly type: "accepted"; readonly fenced: boolean }
  /** The broker is not registered, or under another epoch: it must register (again). */
  | { readonly type: "register"; readonly reason: string };

interface Seen {
  readonly epoch: number;
  readonly atMs: number;
  readonly appliedIndex: number;
  readonly shuttingDown: boolean;
}

export class BrokerLiveness {
  private readonly seen = new Map<number, Seen>();

  /** `sinceMs`: when this controller became leader. */
  constructor(
    readonly sessionTimeoutMs: number,
    private readonly sinceMs: number,
  ) {
    if (!(sessionTimeoutMs > 0)) throw new RangeError(`BrokerLiveness: sessionTimeoutMs must be positive, got ${sessionTimeoutMs}`);
  }

  heartbeat(image: MetadataImage, hb: Heartbeat, nowMs: number): HeartbeatReply {
    const broker = image.broker(hb.brokerId);
    if (!broker) return { type: "register", reason: `broker ${hb.brokerId} is not registered` };
    if (broker.epoch !== hb.brokerEpoch) {
      return { type: "register", reason: `broker ${hb.brokerId} has epoch ${broker.epoch}, the heartbeat says ${hb.brokerEpoch}` };
    }
    this.seen.set(hb.brokerId, { epoch: hb.brokerEpoch, atMs: nowMs, appliedIndex: hb.appliedIndex, shuttingDown: hb.shuttingDown === true });
    return { type: "accepted", fenced: broker.fenced };
  }

  /** True when the broker heartbeated (with its current epoch) within the session timeout. */
  isAlive(image: MetadataImage, brokerId: number, nowMs: number): boolean {
    const broker = image.broker(brokerId);
    return broker !== undefined && nowMs - this.lastHeard(brokerId, broker.epoch) <= this.sessionTimeoutMs;
  }

  /**
   * The fence and unfence records the current heartbeats call for, by broker id. Appending one
   * that is already in flight is harmless (the second is rejected on apply), but a caller should
   * wait for a round to apply before asking again.
   */
  decide(image: MetadataImage, nowMs: number): (FenceBrokerRecord | UnfenceBrokerRecord)[] {
    const records: (FenceBrokerRecord | UnfenceBrokerRecord)[] = [];
    for (const b of image.brokers()) {
      const seen = this.seen.get(b.id);
      const current = seen?.epoch === b.epoch ? seen : undefined;
      const alive = nowMs - this.lastHeard(b.id, b.epoch) <= this.sessionTimeoutMs;
      if (!b.fenced && (!alive || current?.shuttingDown)) {
        records.push({ type: "fenceBroker", brokerId: b.id, brokerEpoch: b.epoch });
      } else if (b.fenced && !b.decommissioned && current && alive && !current.shuttingDown && current.appliedIndex >= b.epoch) {
        records.push({ type: "unfenceBroker", brokerId: b.id, brokerEpoch: b.epoch });
      }
    }
    return records;
  }

  /** When the broker, in this epoch, was last heard from; `sinceMs` if not since this controller took over. */
  private lastHeard(brokerId: number, epoch: number): number {
    const seen = this.seen.get(brokerId);
    return seen?.epoch === epoch ? seen.atMs : this.sinceMs;
  }
}

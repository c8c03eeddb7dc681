/**
 * Fault injection for tests, on any transport: a `FaultyTransport` wraps one broker's transport
 * and consults a `NetworkFaults` shared by all brokers of the test, which the test switches at run
 * time (drop, delay, duplicate, partition, heal).
 *
 * Where faults apply. Loss, delay and duplication are decided once, on the sending side, per Raft
 * message. Partitions are checked on both sides: at send, and again when a batch arrives, so a
 * partition cuts off messages already in flight (or delayed) too. Given a seeded `random`, every
 * decision is reproducible for the same sequence of sends; delays use real timers.
 */
import type { Message } from "../../protocol/raft.js";
import type { BrokerId, RaftMessagesHandler, Transport, TransportStats } from "./transport.js";

export interface FaultSettings {
  /** Probability in [0, 1] that a message is lost. */
  dropRate: number;
  /** Probability in [0, 1] that a message is delivered twice. */
  duplicateRate: number;
  /** Each message is held back a uniform random time in [min, max] ms; undefined = no delay. */
  delayMs: readonly [min: number, max: number] | undefined;
}

/** What the fault layer did, per broker. */
export interface FaultStats {
  dropped: number;
  partitioned: number;
  duplicated: number;
  delayed: number;
}

const NO_FAULTS: FaultSettings = { dropRate: 0, duplicateRate: 0, delayMs: undefined };

/** The faults of one test's network: shared by the FaultyTransport of every broker. */
export class NetworkFaults {
  private settings: FaultSettings = NO_FAULTS;
  /** Blocked directed links, as "from>to". */
  private readonly blocked = new Set<string>();

  /** @param random uniform in [0, 1); pass a seeded generator for reproducible runs. */
  constructor(readonly random: () => number = Math.random) {}

  /** Changes the given settings; the others keep their values. */
  set(settings: Partial<FaultSettings>): void {
    const next = { ...this.settings, ...settings };
    const problems: string[] = [];
    for (const key of ["dropRate", "duplicateRate"] as const) {
      if (!(next[key] >= 0 && next[key] <= 1)) problems.push(`${key} must be in [0, 1], got ${next[key]}`);
    }
    const delay = next.delayMs;
    if (delay && !(delay[0] >= 0 && delay[1] >= delay[0])) problems.push(`delayMs must be [min, max] with 0 <= min <= max, got [${delay.join(", ")}]`);
    if (problems.length > 0) throw new RangeError(`NetworkFaults: ${problems.join("; ")}`);
    this.settings = next;
  }

  get current(): Readonly<FaultSettings> {
    return this.settings;
  }

  /** Cuts every link between a broker of `side` and a broker of `otherSide`, both ways. */
  partition(side: readonly BrokerId[], otherSide: readonly BrokerId[]): void {
    this.blockOneWay(side, otherSide);
    this.blockOneWay(otherSide, side);
  }

  /** Cuts the links from each of `from` to each of `to` only: `to` still reaches `from`. */
  blockOneWay(from: readonly BrokerId[], to: readonly BrokerId[]): void {
    for (const f of from) for (const t of to) if (f !== t) this.blocked.add(`${f}>${t}`);
  }

  /** Removes every partition; loss, delay and duplication stay as set. */
  heal(): void {
    this.blocked.clear();
  }

  /** Removes every partition and every fault. */
  reset(): void {
    this.heal();
    this.settings = NO_FAULTS;
  }

  isBlocked(from: BrokerId, to: BrokerId): boolean {
    return this.blocked.size > 0 && this.blocked.has(`${from}>${to}`);
  }
}

export class FaultyTransport implements Transport {
  readonly localId: BrokerId;
  readonly maxBatchBytes: number;
  private readonly counters: FaultStats = { dropped: 0, partitioned: 0, duplicated: 0, delayed: 0 };
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly inner: Transport,
    private readonly faults: NetworkFaults,
  ) {
    this.localId = inner.localId;
    this.maxBatchBytes = inner.maxBatchBytes;
  }

  send(to: BrokerId, message: Message): void {
    const faults = this.faults;
    if (faults.isBlocked(this.localId, to)) {
      this.counters.partitioned++;
      return;
    }
    const { dropRate, duplicateRate, delayMs } = faults.current;
    if (dropRate > 0 && faults.random() < dropRate) {
      this.counters.dropped++;
      return;
    }
    const copies = duplicateRate > 0 && faults.random() < duplicateRate ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let i = 0; i < copies; i++) {
      if (delayMs) this.sendLater(to, message, delayMs[0] + faults.random() * (delayMs[1] - delayMs[0]));
      else this.inner.send(to, message);
    }
  }

  onMessages(handler: RaftMessagesHandler): void {
    this.inner.onMessages((from, messages) => {
      if (this.faults.isBlocked(from, this.localId)) {
        this.counters.partitioned += messages.length;
        return;
      }
      handler(from, messages);
    });
  }

  /** Flushes the inner transport. Delayed messages are still waiting on their timers and are not awaited. */
  flush(): Promise<void> {
    return this.inner.flush();
  }

  /** Drops delayed messages not yet sent, then closes the inner transport. */
  close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    return this.inner.close();
  }

  stats(): TransportStats {
    return this.inner.stats();
  }

  faultStats(): FaultStats {
    return { ...this.counters };
  }

  private sendLater(to: BrokerId, message: Message, ms: number): void {
    this.counters.delayed++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      // The partition may have started while the message waited.
      if (this.faults.isBlocked(this.localId, to)) this.counters.partitioned++;
      else this.inner.send(to, message);
    }, ms);
    this.timers.add(timer);
  }
}

/**
 * AckWaiters: the produces waiting for their acknowledgement. acks=all waits until its entry is
 * committed and applied here, acks=leader until the leader's own write is durable; either is
 * answered only if the entry at its index is still the one proposed (same term). Each list is
 * ordered by Raft index.
 */
import { FlotillaError } from "../../protocol/errors.js";
import type { DedupEntry } from "./dedup-index.js";
import { notLeader } from "./not-leader.js";
import type { ProduceResult } from "./produce-request.js";

interface AckWaiter {
  index: number;
  term: number;
  baseOffset: number;
  resolve: (r: ProduceResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The term of the entry at a Raft index now (undefined once it is gone). */
export type TermAt = (index: number) => number | undefined;

export class AckWaiters {
  private readonly commitWaiters: AckWaiter[] = [];
  private readonly durableWaiters: AckWaiter[] = [];

  constructor(private readonly timeoutMs: number) {}

  /** Waits (up to the produce timeout) for `e` to be committed (acks=all) or durable (acks=leader). */
  wait(e: DedupEntry, acks: "all" | "leader"): Promise<ProduceResult> {
    return new Promise<ProduceResult>((resolve, reject) => {
      const list = acks === "all" ? this.commitWaiters : this.durableWaiters;
      const w: AckWaiter = {
        index: e.index,
        term: e.term,
        baseOffset: e.baseOffset,
        resolve,
        reject,
        timer: setTimeout(() => {
          const at = list.indexOf(w);
          if (at >= 0) list.splice(at, 1);
          reject(new FlotillaError("TIMEOUT", `batch at index ${e.index} not ${acks === "all" ? "committed" : "durable"} within ${this.timeoutMs} ms`));
        }, this.timeoutMs),
      };
      // Keep the list ordered by index (a duplicate may wait on an older entry).
      let at = list.length;
      while (at > 0 && list[at - 1].index > w.index) at--;
      list.splice(at, 0, w);
    });
  }

  /** acks=all: committed at this leader (applied up to `applied`) AND still the entry that was proposed (same term). */
  resolveCommitted(applied: number, termAt: TermAt, leader: number): void {
    this.resolveUpTo(this.commitWaiters, applied, termAt, (index) => notLeader(leader, `the entry at ${index} was replaced by another leader's`));
  }

  /** acks=leader: the leader's log is durable up to `durable`, and the entry is still the one proposed. */
  resolveDurable(durable: number, termAt: TermAt, leader: number): void {
    this.resolveUpTo(this.durableWaiters, durable, termAt, (index) => notLeader(leader, `the entry at ${index} was replaced before it was durable`));
  }

  private resolveUpTo(list: AckWaiter[], upTo: number, termAt: TermAt, replaced: (index: number) => Error): void {
    while (list.length > 0 && list[0].index <= upTo) {
      const w = list.shift()!;
      clearTimeout(w.timer);
      if (termAt(w.index) === w.term) w.resolve({ baseOffset: BigInt(w.baseOffset) });
      else w.reject(replaced(w.index));
    }
  }

  /** Rejects every waiter for an entry at `from` or after (a suffix being replaced). */
  rejectFrom(from: number, err: Error): void {
    for (const list of [this.commitWaiters, this.durableWaiters]) {
      for (let k = list.length - 1; k >= 0; k--) {
        if (list[k].index >= from) {
          clearTimeout(list[k].timer);
          list[k].reject(err);
          list.splice(k, 1);
        }
      }
    }
  }

  rejectAll(err: Error): void {
    for (const list of [this.commitWaiters, this.durableWaiters]) {
      for (const w of list.splice(0)) {
        clearTimeout(w.timer);
        w.reject(err);
      }
    }
  }
}

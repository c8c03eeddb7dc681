import type { Entry } from "../../protocol/raft.js";

/** The properties the simulator checks. Tests assert on these names. */
export type Property =
  | "election-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "vote-safety"
  | "linearizable-read"
  | "liveness"
  | "core-error";

export class Violation extends Error {
  constructor(
    readonly property: Property,
    readonly detail: string,
  ) {
    super(`${property}: ${detail}`);
    this.name = "Violation";
  }
}

/** What a vote request said about the candidate's log. */
export interface VoteRequest {
  term: number;
  logTerm: number;
  index: number;
}

/** A node's log as the checker sees it: the term of every index from `base` on. */
class LogShadow {
  /** terms[k] is the term of index base + k; terms[0] is the snapshot's (or 0 for an empty log). */
  terms: number[];

  constructor(
    public base: number,
    baseTerm: number,
  ) {
    this.terms = [baseTerm];
  }

  get lastIndex(): number {
    return this.base + this.terms.length - 1;
  }

  get lastTerm(): number {
    return this.terms[this.terms.length - 1];
  }

  /** Undefined below the snapshot (compacted) or past the end. */
  term(i: number): number | undefined {
    return i < this.base || i > this.lastIndex ? undefined : this.terms[i - this.base];
  }
}

/** Terms never reach this within one simulated run; it keys (index, term) pairs as one number. */
const TERM_LIMIT = 1_000_000;

/**
 * Raft's safety properties, checked incrementally: each event costs O(entries it carries), never a
 * scan of whole logs, so the simulator can check after every single step.
 *
 * The checker knows only what the driver tells it. "Known committed" means: some node applied the
 * entry, or some node's hard state said commit ≥ its index. Every method throws a Violation.
 */
export class Checker {
  private readonly leaders = new Map<number, number>();
  private readonly logs = new Map<number, LogShadow>();
  /** (index, term) → the entry's fingerprint and the term before it: equal keys must agree on both. */
  private readonly logKeys = new Map<number, { fp: string; prevTerm: number }>();
  private readonly committedTerm: number[] = [];
  private readonly appliedFp: string[] = [];
  private readonly hashAt: number[] = [];
  private readonly nodeApplied = new Map<number, number>();
  private readonly readFloor = new Map<number, number>();
  private maxCommittedIndex = 0;
  private maxAppliedIndex = 0;

  get elections(): number {
    return this.leaders.size;
  }

  /** A node starts (or restarts) over durable storage holding a snapshot at `base` and these entry terms. */
  nodeStarted(id: number, base: number, baseTerm: number, terms: readonly number[], applied: number): void {
    const log = new LogShadow(base, baseTerm);
    log.terms.push(...terms);
    this.logs.set(id, log);
    this.nodeApplied.set(id, applied);
  }

  /** `id` became leader of `term`: at most one per term, and its log must hold every committed entry. */
  leaderElected(id: number, term: number): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) {
      throw new Violation("election-safety", `nodes ${prev} and ${id} are both leaders of term ${term}`);
    }
    this.leaders.set(term, id);
    const k = this.maxCommittedIndex;
    if (k === 0) return;
    const log = this.log(id);
    if (log.lastIndex < k) {
      throw new Violation("leader-completeness", `leader ${id} of term ${term} ends at ${log.lastIndex}, but ${k} is committed`);
    }
    // Log matching (checked separately) makes equal (index, term) imply an equal prefix.
    const t = log.term(k);
    if (t !== undefined && t !== this.committedTerm[k]) {
      throw new Violation(
        "leader-completeness",
        `leader ${id} of term ${term} has term ${t} at ${k}, committed with term ${this.committedTerm[k]}`,
      );
    }
  }

  /**
   * `id` appends `entries` to its log (a Ready's entries), replacing whatever it held from the first
   * one's index on. Checks log matching and that no entry the node held that is known committed is
   * replaced or cut off.
   */
  appended(id: number, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const log = this.log(id);
    const first = entries[0].index;
    const last = entries[entries.length - 1].index;
    if (first > log.lastIndex + 1 || first <= log.base) {
      throw new Violation("log-matching", `node ${id} appends ${first}..${last} to a log of ${log.base}..${log.lastIndex}`);
    }
    if (first <= this.maxCommittedIndex) this.checkTruncation(id, log, first, last, entries);
    let prevTerm = log.terms[first - 1 - log.base];
    log.terms.length = first - log.base;
    for (const e of entries) {
      if (e.term >= TERM_LIMIT) throw new Error(`term ${e.term} out of the checker's range`);
      const key = e.index * TERM_LIMIT + e.term;
      const fp = fingerprint(e);
      const seen = this.logKeys.get(key);
      if (seen === undefined) this.logKeys.set(key, { fp, prevTerm });
      else if (seen.fp !== fp || seen.prevTerm !== prevTerm) {
        throw new Violation(
          "log-matching",
          `entry (${e.index}, term ${e.term}) differs between logs: ${seen.fp} after term ${seen.prevTerm} vs ${fp} after term ${prevTerm} on node ${id}`,
        );
      }
      log.terms.push(e.term);
      prevTerm = e.term;
    }
  }

  /** `id` replaces its log with a snapshot at (index, term), whose state machine hash is `hash`. */
  snapshotInstalled(id: number, index: number, term: number, hash: number): void {
    const known = this.committedTerm[index];
    if (known !== undefined && known !== term) {
      throw new Violation("state-machine-safety", `node ${id} installs a snapshot at (${index}, term ${term}), committed with term ${known}`);
    }
    const h = this.hashAt[index];
    if (h !== undefined && h !== hash) {
      throw new Violation("state-machine-safety", `node ${id} installs a snapshot at ${index} whose state differs from what was applied there`);
    }
    this.logs.set(id, new LogShadow(index, term));
    this.nodeApplied.set(id, index);
    this.noteCommitted(id, index, term);
  }

  /** `id`'s hard state says everything up to `index` is committed. */
  commitAdvanced(id: number, index: number): void {
    if (index <= 0) return;
    const t = this.log(id).term(index);
    if (t === undefined) return; // inside its snapshot, which holds only committed entries
    this.noteCommitted(id, index, t);
  }

  /** `id` applies `e` to its state machine; `hash` is the state machine's hash after it. */
  applied(id: number, e: Entry, hash: number): void {
    const prev = this.nodeApplied.get(id) ?? 0;
    if (e.index !== prev + 1) {
      throw new Violation("state-machine-safety", `node ${id} applies ${e.index} after ${prev}`);
    }
    this.nodeApplied.set(id, e.index);
    const fp = `${e.term}:${fingerprint(e)}`;
    const seen = this.appliedFp[e.index];
    if (seen === undefined) {
      this.appliedFp[e.index] = fp;
      this.hashAt[e.index] = hash;
    } else if (seen !== fp) {
      throw new Violation("state-machine-safety", `index ${e.index} applied as ${seen} on one node and ${fp} on node ${id}`);
    }
    this.noteCommitted(id, e.index, e.term);
    if (e.index > this.maxAppliedIndex) this.maxAppliedIndex = e.index;
  }

  /**
   * `granter` sends a granted Vote/PreVote response to the candidate whose request was `req`: the
   * request's last (term, index) must be at least as up to date as the granter's log right now.
   */
  voteGranted(granter: number, candidate: number, kind: "vote" | "pre-vote", req: VoteRequest): void {
    const log = this.log(granter);
    const upToDate = req.logTerm > log.lastTerm || (req.logTerm === log.lastTerm && req.index >= log.lastIndex);
    if (!upToDate) {
      throw new Violation(
        "vote-safety",
        `node ${granter} grants a ${kind} in term ${req.term} to ${candidate} whose log ends at (${req.index}, term ${req.logTerm}), ` +
          `but its own ends at (${log.lastIndex}, term ${log.lastTerm})`,
      );
    }
  }

  /** A read starts: whatever it returns must reflect everything applied anywhere before now. */
  readStarted(readId: number): void {
    this.readFloor.set(readId, this.maxAppliedIndex);
  }

  /** Read `readId` is served at read index `index`. */
  readServed(readId: number, node: number, index: number): void {
    const floor = this.readFloor.get(readId);
    if (floor === undefined) return; // a duplicate answer for a read already served
    this.readFloor.delete(readId);
    if (index < floor) {
      throw new Violation("linearizable-read", `read ${readId} served by node ${node} at index ${index}, but ${floor} was applied before it started`);
    }
  }

  /** Forgets a read that will never be served (dropped, or its node crashed). */
  readAbandoned(readId: number): void {
    this.readFloor.delete(readId);
  }

  private noteCommitted(id: number, index: number, term: number): void {
    const known = this.committedTerm[index];
    if (known === undefined) this.committedTerm[index] = term;
    else if (known !== term) {
      throw new Violation("state-machine-safety", `node ${id} holds (${index}, term ${term}) committed, but (${index}, term ${known}) was committed`);
    }
    if (index > this.maxCommittedIndex) this.maxCommittedIndex = index;
  }

  private checkTruncation(id: number, log: LogShadow, first: number, last: number, entries: readonly Entry[]): void {
    const end = Math.min(log.lastIndex, this.maxCommittedIndex);
    for (let i = first; i <= end; i++) {
      const old = log.terms[i - log.base];
      if (old !== this.committedTerm[i]) continue; // it never held the committed entry here
      const replacement = i <= last ? entries[i - first].term : undefined;
      if (replacement !== old) {
        throw new Violation(
          "state-machine-safety",
          `node ${id} ${replacement === undefined ? "cuts off" : `overwrites with term ${replacement}`} the committed entry (${i}, term ${old})`,
        );
      }
    }
  }

  private log(id: number): LogShadow {
    const log = this.logs.get(id);
    if (log === undefined) throw new Error(`checker: node ${id} never started`);
    return log;
  }
}

/** Identifies an entry's content cheaply: type and bytes (payloads are short and unique). */
export function fingerprint(e: Entry): string {
  let s = e.type === 0 ? "d" : "c";
  const d = e.data;
  for (let i = 0; i < d.length; i++) s += HEX[d[i]];
  return s;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

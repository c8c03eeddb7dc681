import { Inflights } from "./inflights.js";
import type { Snapshot } from "../../protocol/raft.js";

export const ProgressState = { Probe: "probe", Replicate: "replicate", Snapshot: "snapshot" } as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/**
 * What the leader knows of one follower's log.
 *
 * - probe: the leader does not know where the follower's log matches; it sends one App per
 *   heartbeat interval and waits for the answer (or a rejection with a hint).
 * - replicate: the match is known; Apps stream optimistically, bounded by `inflights`.
 * - snapshot: the entries the follower needs are compacted; the leader sends the snapshot in
 *   chunks, one outstanding at a time, and sends no Apps until it is installed.
 *
 * Invariant: match < next.
 */
export class Progress {
  /** Highest index known to be durably replicated on the follower. */
  match = 0;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** Probe: an App is outstanding. Replicate: the in-flight window is full. */
  msgAppFlowPaused = false;
  /** Heard from since the last check-quorum round (or since becoming leader). */
  recentActive = false;
  readonly inflights: Inflights;
  /** Snapshot state: the snapshot being sent, and how many of its bytes the follower holds. */
  snapshot: Snapshot | undefined;
  /** Snapshot state: bytes the follower last said it holds (it may go down if the follower restarted). */
  snapshotAcked = 0;
  /** Snapshot state: offset of the chunk sent and not yet answered (-1: none). */
  snapshotSent = -1;
  /** Lease reads: the leader tick of the latest heartbeat this follower answered. */
  lastAckedBeat = 0;

  constructor(
    next: number,
    maxInflightMsgs: number,
    maxInflightBytes: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.snapshot = undefined;
    this.snapshotAcked = 0;
    this.snapshotSent = -1;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower is known to have at least the snapshot's index.
    const pending = this.state === ProgressState.Snapshot && this.snapshot ? this.snapshot.meta.index : 0;
    this.resetState(ProgressState.Probe);
    this.next = Math.max(this.match + 1, pending + 1);
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState(ProgressState.Snapshot);
    this.snapshot = snapshot;
    this.next = snapshot.meta.index + 1;
  }

  /** Records an App of `entries` entries and `bytes` bytes just sent. */
  sentEntries(entries: number, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entries > 0) {
        this.next += entries;
        this.inflights.add(this.next - 1, bytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === ProgressState.Probe && entries > 0) {
      this.msgAppFlowPaused = true;
    }
  }

  /** An acknowledgement up to `n`; returns whether it moved `match`. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the App whose previous index was `rejected`; `matchHint` is the highest index
   * that may match. Returns false for a stale rejection (one that no longer says anything new).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
      case ProgressState.Replicate:
        return this.msgAppFlowPaused;
      case ProgressState.Snapshot:
        return true;
    }
  }
}

import type { Entry } from "../../protocol/raft.js";
import { Violation } from "./checker.js";

/** Snapshots are padded to this size so that a small `snapshotChunkSize` splits them into several chunks. */
const SNAPSHOT_BYTES = 64;
/** How many recent states are kept, so a snapshot can be taken a little behind the applied index. */
const HISTORY = 256;

/**
 * A node's replicated state: the index applied last and a hash chained over every applied entry.
 * Two nodes at the same index with different hashes applied different histories; a snapshot carries
 * (index, hash) so the checker can tell whether an installed snapshot is the state it claims to be.
 */
export class StateMachine {
  /** (term, hash) after each of the last HISTORY indexes, by index modulo HISTORY. */
  private readonly history: { index: number; term: number; hash: number }[] = [];

  constructor(
    public index = 0,
    /** Term of the entry at `index` (the snapshot's term after a restore). */
    public term = 0,
    public hash = 0,
  ) {
    this.history[index % HISTORY] = { index, term, hash };
  }

  /** Restores the state a snapshot at `index` carries; garbled bytes (a chunking bug) are a violation. */
  static fromSnapshot(data: Uint8Array, index: number, term: number): StateMachine {
    if (index === 0 && data.length === 0) return new StateMachine();
    const s = decodeSnapshotData(data);
    if (s === undefined || s.index !== index) {
      throw new Violation("state-machine-safety", `snapshot at ${index} arrived garbled (${data.length} bytes)`);
    }
    return new StateMachine(s.index, term, s.hash);
  }

  /** Applies the next entry and returns the new hash. */
  apply(e: Entry): number {
    let h = (this.hash ^ Math.imul(e.term, 0x9e3779b1) ^ e.type) >>> 0;
    const d = e.data;
    for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i], 0x01000193) >>> 0;
    this.hash = h;
    this.index = e.index;
    this.term = e.term;
    this.history[e.index % HISTORY] = { index: e.index, term: e.term, hash: h };
    return h;
  }

  /** The state after applying `index`, if it is recent enough to be remembered. */
  at(index: number): { term: number; data: Uint8Array } | undefined {
    const h = this.history[index % HISTORY];
    if (h === undefined || h.index !== index || index > this.index) return undefined;
    const out = new Uint8Array(SNAPSHOT_BYTES);
    const view = new DataView(out.buffer);
    view.setUint32(0, index);
    view.setUint32(4, h.hash);
    for (let i = 8; i < SNAPSHOT_BYTES; i++) out[i] = filler(h.hash, i);
    return { term: h.term, data: out };
  }
}

function decodeSnapshotData(data: Uint8Array): { index: number; hash: number } | undefined {
  if (data.length !== SNAPSHOT_BYTES) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const hash = view.getUint32(4);
  for (let i = 8; i < SNAPSHOT_BYTES; i++) if (data[i] !== filler(hash, i)) return undefined;
  return { index: view.getUint32(0), hash };
}

function filler(hash: number, i: number): number {
  return ((hash >>> ((i % 4) * 8)) & 0xff) ^ i;
}

/**
 * The applied checkpoint in LMDB: the applied index with the membership (ConfState) as of that
 * index, and the replica's incarnation id. Entries after the checkpoint are applied again on restart.
 */
import type { ConfState } from "../../protocol/raft.js";
import type { StateValue } from "../state/index.js";

/** The state store namespace of checkpoints (key: the group). */
export const CHECKPOINT_NS = "partition-replica";

export interface Checkpoint {
  incarnation: string;
  applied: number;
  conf: ConfState;
}

export function checkpointValue(c: Checkpoint): StateValue {
  return {
    incarnation: c.incarnation,
    applied: c.applied,
    voters: c.conf.voters,
    votersOutgoing: c.conf.votersOutgoing,
    learners: c.conf.learners,
    learnersNext: c.conf.learnersNext,
    autoLeave: c.conf.autoLeave,
  };
}

function numbers(v: StateValue | undefined): number[] {
  return Array.isArray(v) ? v.filter((x): x is number => typeof x === "number") : [];
}

export function readCheckpoint(v: StateValue | undefined): Checkpoint | undefined {
  if (v === undefined || v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) return undefined;
  const r = v as { [key: string]: StateValue };
  if (typeof r.incarnation !== "string" || typeof r.applied !== "number") return undefined;
  return {
    incarnation: r.incarnation,
    applied: r.applied,
    conf: {
      voters: numbers(r.voters),
      votersOutgoing: numbers(r.votersOutgoing),
      learners: numbers(r.learners),
      learnersNext: numbers(r.learnersNext),
      autoLeave: r.autoLeave === true,
    },
  };
}

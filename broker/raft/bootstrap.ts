import { EntryType, ConfChangeType, type ConfState, type Entry, type HardState } from "../../protocol/raft.js";
import { encodeConfChange } from "../../protocol/conf-change.js";

/**
 * The first durable state of every initial member of a new group: one committed ConfChange entry
 * at index 1, term 1, that names the initial voters and learners, and a hard state that commits it.
 *
 * Membership then lives in the log from the very start, so a node added later that replays the log
 * from index 1 learns the original members before it applies any later change. (Kept only in an
 * initial snapshot, the original members would be invisible to such a node, and the first change
 * it applied would remove "all voters".) Every initial member writes exactly these bytes, so their
 * logs match at index 1.
 */
export function bootstrapState(members: ConfState): { entries: Entry[]; hardState: HardState } {
  if (members.voters.length === 0) throw new Error("a group needs at least one voter");
  if (members.votersOutgoing.length > 0) throw new Error("a group cannot start in joint consensus");
  const changes = [
    ...[...members.voters].sort((a, b) => a - b).map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId })),
    ...[...members.learners].sort((a, b) => a - b).map((nodeId) => ({ type: ConfChangeType.AddLearner, nodeId })),
  ];
  const data = encodeConfChange({ changes, transition: "auto" });
  return {
    entries: [{ term: 1, index: 1, type: EntryType.ConfChange, data }],
    hardState: { term: 1, vote: 0, commit: 1 },
  };
}

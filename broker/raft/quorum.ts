/**
 * Quorum arithmetic, pure. A majority config is a set of voter ids; a joint config is two of them
 * (incoming, outgoing) and needs a majority of each. The empty majority config agrees to everything,
 * so a joint config whose outgoing half is empty behaves as its incoming half alone.
 */

export const VoteResult = { Pending: 0, Lost: 1, Won: 2 } as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

/** Largest index acknowledged by a majority of `voters`; `acked(id)` is each voter's match index. */
export function majorityCommitted(voters: ReadonlySet<number>, acked: (id: number) => number | undefined): number {
  const n = voters.size;
  if (n === 0) return Number.MAX_SAFE_INTEGER; // the empty config commits anything (see joint)
  const idx: number[] = [];
  for (const id of voters) idx.push(acked(id) ?? 0);
  idx.sort((a, b) => b - a);
  // Sorted descending, the (n/2 + 1)-th value is held by at least a majority.
  return idx[Math.floor(n / 2)];
}

export function jointCommitted(
  incoming: ReadonlySet<number>,
  outgoing: ReadonlySet<number>,
  acked: (id: number) => number | undefined,
): number {
  return Math.min(majorityCommitted(incoming, acked), majorityCommitted(outgoing, acked));
}

export function majorityVoteResult(voters: ReadonlySet<number>, votes: ReadonlyMap<number, boolean>): VoteResult {
  if (voters.size === 0) return VoteResult.Won;
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (yes >= q) return VoteResult.Won;
  if (yes + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}

export function jointVoteResult(
  incoming: ReadonlySet<number>,
  outgoing: ReadonlySet<number>,
  votes: ReadonlyMap<number, boolean>,
): VoteResult {
  const a = majorityVoteResult(incoming, votes);
  const b = majorityVoteResult(outgoing, votes);
  if (a === b) return a;
  if (a === VoteResult.Lost || b === VoteResult.Lost) return VoteResult.Lost;
  return VoteResult.Pending;
}

import { FlotillaError } from "../../protocol/errors.js";

/** The retriable NOT_LEADER error, naming the leader this replica knows (if any). */
export function notLeader(leader: number, why: string): FlotillaError {
  return new FlotillaError("NOT_LEADER", `not the leader: ${why}`, leader > 0 ? { leader } : {});
}

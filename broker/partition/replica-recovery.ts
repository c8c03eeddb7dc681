/**
 * The replica's incarnation, and RECOVERING: the state of a replica that lost part of its disk.
 *
 * An empty disk must never vote as if it had its old log. A replica whose log was lost still
 * counts, in its peers' eyes, among the voters that acknowledged committed entries; if it voted
 * with an empty log it could elect a leader missing those entries, and committed data would be
 * gone. Likewise a replica whose LMDB was lost has forgotten its vote and could vote twice in one
 * term. So each replica writes a random incarnation id both in its directory (`replica.id`) and in
 * LMDB; on open, if either is missing or they differ (or the caller says the replica must already
 * exist and neither is there), the replica starts RECOVERING: it never campaigns, ignores
 * PreVote/Vote/TimeoutNow, and only follows. It leaves that state (and writes a fresh incarnation)
 * once it has heard a leader of a term above every term it could know of (its LMDB term or its
 * log's last term) and has applied up to that leader's commit index. An idle leader only
 * heartbeats, so a heartbeat counts too: its commit index is what the leader knows this replica
 * holds; when the log ends below it (entries the leader believes acknowledged are gone), the
 * replica answers with a rejection below its acknowledged match, which makes that leader hand its
 * leadership to another voter (leadership-transfer.ts) whose fresh progress probes this replica
 * with appends. So recovery needs no write to the partition. Known limit: when BOTH stores
 * are lost the replica cannot know the highest term it once voted in, so a vote it gave before the
 * loss in a term above the one it recovers in could in theory be given again; closing that needs
 * the controller to re-add such a replica as a learner (new membership), which is not built yet. A
 * wiped directory with `expectExisting: false` is indistinguishable from a new replica.
 */
import { open as openFile, readFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Logger } from "pino";
import { MessageType, emptyConfState, emptyMessage, type HardState, type Message } from "../../protocol/raft.js";
import type { SegmentLog } from "../log/index.js";
import type { StateStore } from "../state/index.js";
import { CHECKPOINT_NS, checkpointValue, type Checkpoint } from "./replica-checkpoint.js";

const INCARNATION_FILE = "replica.id";

/** A RECOVERING replica: what it must see before it may vote again. */
export class Recovery {
  /** The commit index of the first leader heard of a term above `knownTerm` (0: none yet). */
  private target = 0;

  /** `knownTerm`: the highest term this replica could know of (its LMDB term or its log's last term). */
  constructor(readonly knownTerm: number) {}

  /**
   * Whether the replica, whose log ends at `lastIndex`, may step `m`: votes and TimeoutNow are
   * ignored; a new leader's append, or its heartbeat for entries this log holds, sets the target.
   */
  admits(m: Message, lastIndex: number): boolean {
    if (m.type === MessageType.PreVote || m.type === MessageType.Vote || m.type === MessageType.TimeoutNow) return false;
    if (m.term > this.knownTerm && (m.type === MessageType.App || (m.type === MessageType.Heartbeat && m.commit > 0 && m.commit <= lastIndex))) {
      this.target = Math.max(this.target, m.commit);
    }
    return true;
  }

  /**
   * For a leader's heartbeat: the rejection that tells the leader this log (ending at `lastIndex`,
   * in `lastTerm`) lacks entries it believes acknowledged, or undefined when it does not.
   */
  lostEntriesReply(m: Message, self: number, lastIndex: number, lastTerm: number): Message | undefined {
    if (m.type !== MessageType.Heartbeat || m.commit <= lastIndex) return undefined;
    return { ...emptyMessage(MessageType.AppResp, m.group, self, m.from, m.term), index: m.commit, reject: true, rejectHint: lastIndex, logTerm: lastTerm };
  }

  /** Heard a leader of a term above `knownTerm` and applied up to its commit index. */
  isCaughtUp(applied: number, term: number): boolean {
    return this.target > 0 && applied >= this.target && term > this.knownTerm;
  }
}

/** What `establishIncarnation` found: the replica's incarnation id ("" while recovering), and whether it is brand new. */
export interface Incarnation {
  incarnation: string;
  recovering?: Recovery;
  fresh?: boolean;
}

/**
 * Compares the incarnation in the directory with the checkpoint's: the same id is the same life;
 * nothing anywhere (and not `expectExisting`) is a new replica, recorded in both stores before it
 * takes part in anything; anything else means a lost disk, and the replica recovers.
 */
export async function establishIncarnation(a: {
  dir: string;
  group: string;
  expectExisting: boolean;
  store: StateStore;
  hardState: HardState | undefined;
  checkpoint: Checkpoint | undefined;
  log: SegmentLog;
  logger: Logger;
}): Promise<Incarnation> {
  const { checkpoint, hardState: hs, log } = a;
  const fileId = await readFile(join(a.dir, INCARNATION_FILE), "utf8").then(
    (s) => s.trim(),
    () => undefined,
  );
  const knownTerm = Math.max(hs?.term ?? 0, log.lastTerm ?? 0);
  if (checkpoint && fileId !== undefined && checkpoint.incarnation === fileId) return { incarnation: fileId };
  if (!checkpoint && fileId === undefined && !hs && log.lastIndex === 0 && !a.expectExisting) {
    // A new replica: record who it is in both stores before it takes part in anything. Its
    // membership comes from its log (bootstrapped, or sent by the leader that adds it).
    const incarnation = newIncarnation();
    await writeIncarnation(a.dir, incarnation);
    await a.store.put(CHECKPOINT_NS, a.group, checkpointValue({ incarnation, applied: 0, conf: emptyConfState() }));
    return { incarnation, fresh: true };
  }
  a.logger.warn(
    { lmdbCheckpoint: checkpoint !== undefined, hardState: hs !== undefined, incarnationFile: fileId !== undefined, logLastIndex: log.lastIndex },
    "the log and the state store do not belong to the same replica life (a disk was lost)",
  );
  return { incarnation: "", recovering: new Recovery(knownTerm) };
}

export function newIncarnation(): string {
  return randomBytes(16).toString("hex");
}

/** Writes the incarnation file and fsyncs it (and its directory) before anything relies on it. */
export async function writeIncarnation(dir: string, incarnation: string): Promise<void> {
  const path = join(dir, INCARNATION_FILE);
  const f = await openFile(path, "w");
  try {
    await f.writeFile(incarnation + "\n");
    await f.sync();
  } finally {
    await f.close();
  }
  const d = await openFile(dir, "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

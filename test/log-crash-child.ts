/**
 * The process the crash test kills: opens (and so recovers) the log in argv[2], then appends
 * entries as fast as it can with several appends in flight, printing "ack <index>" for every
 * append whose durability promise resolved. Entry contents are a pure function of the Raft index
 * and offset (`expectedEntry`), so the parent can check every byte that survives.
 */
import { GroupCommitter, ThreadPoolSyncer } from "../broker/log/group-committer.js";
import { SegmentLog, type AppendEntry } from "../broker/log/segment-log.js";
import { expectedEntry } from "./log-crash-entries.js";

const dir = process.argv[2];
const inFlight = 8;

const committer = new GroupCommitter(new ThreadPoolSyncer({ threads: 2 }));
const log = await SegmentLog.open({ dir, committer, segmentBytes: 256 * 1024 });
let index = log.lastIndex;
let offset = log.nextOffset;
process.stdout.write(`ready ${index}\n`);

function next(): AppendEntry {
  const e = expectedEntry(++index, offset);
  if (e.kind === "batch") offset += BigInt(e.records);
  return e.entry;
}

async function worker(): Promise<void> {
  for (;;) {
    const entries = [next(), next()];
    await log.append(entries);
    process.stdout.write(`ack ${entries[entries.length - 1].index}\n`);
  }
}

await Promise.all(Array.from({ length: inFlight }, worker));

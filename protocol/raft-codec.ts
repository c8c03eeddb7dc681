import { DecodeError } from "./decode-error.js";
import { MsgpackReader, encodeMsgpack, type MsgpackWriter } from "./msgpack.js";
import {
  EntryType,
  MessageType,
  type ConfState,
  type Entry,
  type Message,
  type SnapshotChunk,
  type SnapshotMeta,
} from "./raft.js";

/**
 * The Raft transport's payload: many messages, for many groups, to one broker, in one NATS message.
 *
 * MessagePack, positional arrays (no field names on the wire), version first:
 *
 *   batch    [version, [message, ...]]
 *   message  [type, group, to, from, term, logTerm, index, commit, reject, rejectHint, [entry, ...],
 *             context?, snapshot?]          (trailing optional fields are omitted when absent;
 *                                            context is nil when only the snapshot is present)
 *   entry    [term, index, type, data]      data: bin, or (version 2) uint k = the same bytes as the
 *                                            k-th entry data written as bin earlier in the batch
 *   snapshot [[index, term, confState], offset, total, data]
 *   confState [voters, votersOutgoing, learners, learnersNext, autoLeave]
 *
 * Shared data. One batch may carry messages for several brokers (a multicast batch: the leader's
 * appends of the same entries to every follower, see CoalescingSender). An entry whose `data` is the
 * same object as one written earlier in the batch is written as a back-reference, so the bytes cross
 * the wire once. A batch with a back-reference is version 2; one without is version 1, as before.
 *
 * Copies. `encodeRaftBatch` copies each distinct entry data once, into the payload it returns
 * (measured first, so there is no growing buffer and no final slice); the payload is the caller's to keep.
 * `decodeRaftBatch` copies nothing: every entry's `data`, `context` and snapshot chunk `data` is a
 * view into `buf`. The caller owns `buf` and must not reuse or modify it while any decoded message
 * (or any entry the Raft log kept from one) is alive. A kept view also keeps the whole payload in
 * memory; whoever holds entries for long (the unstable log tail holds them only until they are on
 * disk) may copy them, and that is then the only copy on the receive path.
 *
 * Decoding is the trust boundary: lengths are capped (below), every number must be a non-negative
 * safe integer (node ids positive), kinds must be known, and each message must be coherent (entries
 * only on App/Prop, App entries at consecutive indexes after `index`, a snapshot exactly on Snap, a
 * chunk that fits its total). Anything else is a DecodeError naming the message and field, never a
 * half-valid Message.
 */

/** The version of a batch without back-references (every broker speaks it). */
export const RAFT_WIRE_VERSION = 1;
/** The version of a batch in which entries may refer to data written earlier in it. */
export const RAFT_WIRE_VERSION_SHARED = 2;

export const RAFT_LIMITS = {
  messagesPerBatch: 1 << 16,
  entriesPerMessage: 1 << 16,
  /** UTF-8 bytes of a group name (a topic is at most 249 characters, plus the partition). */
  groupBytes: 512,
  /** Voters, learners etc. in one list of a ConfState. */
  nodesPerList: 1024,
  contextBytes: 64 * 1024,
  /** Entry data and snapshot chunks. NATS allows at most 64 MiB per message. */
  dataBytes: 64 * 1024 * 1024,
} as const;

const MESSAGE_TYPES = new Set<number>(Object.values(MessageType));
const ENTRY_TYPES = new Set<number>(Object.values(EntryType));
/** Fields of a message array before the optional context and snapshot. */
const MESSAGE_FIXED_FIELDS = 11;

export function encodeRaftBatch(messages: Message[]): Uint8Array {
  if (messages.length > RAFT_LIMITS.messagesPerBatch) {
    throw new RangeError(`encodeRaftBatch: ${messages.length} messages, at most ${RAFT_LIMITS.messagesPerBatch} per batch`);
  }
  for (const m of messages) checkEncodable(m);
  const version = hasSharedData(messages) ? RAFT_WIRE_VERSION_SHARED : RAFT_WIRE_VERSION;
  return encodeMsgpack((w) => {
    w.array(2);
    w.uint(version, "version");
    w.array(messages.length);
    const written = new Map<Uint8Array, number>();
    for (const m of messages) writeMessage(w, m, written);
  });
}

/** Whether some entry data object occurs twice in the batch (it is then written once). */
function hasSharedData(messages: Message[]): boolean {
  const seen = new Set<Uint8Array>();
  for (const m of messages) {
    for (const e of m.entries) {
      if (seen.has(e.data)) return true;
      seen.add(e.data);
    }
  }
  return false;
}

/** What the peer's decoder enforces beyond number ranges, checked here so a bad message fails at its sender. */
function checkEncodable(m: Message): void {
  const fail = (what: string): never => {
    throw new RangeError(`encodeRaftBatch: ${what} (type ${m.type}, group ${m.group})`);
  };
  if (!MESSAGE_TYPES.has(m.type)) fail("unknown message type");
  if (m.to <= 0 || m.from <= 0) fail(`node ids must be positive, got to ${m.to} from ${m.from}`);
  if (m.entries.length > 0 && m.type !== MessageType.App && m.type !== MessageType.Prop) fail("entries on a message that carries none");
  if (m.type === MessageType.App) {
    for (let j = 0; j < m.entries.length; j++) {
      if (m.entries[j].index !== m.index + 1 + j) fail(`entry ${j} at index ${m.entries[j].index} does not follow ${m.index}`);
    }
  }
  if ((m.type === MessageType.Snap) !== (m.snapshot !== undefined)) fail("a snapshot belongs on Snap messages and only there");
  if (m.entries.length > RAFT_LIMITS.entriesPerMessage) fail(`${m.entries.length} entries in one message`);
  const groupBytes = Buffer.byteLength(m.group, "utf8");
  if (groupBytes === 0 || groupBytes > RAFT_LIMITS.groupBytes) fail(`group name of ${groupBytes} bytes`);
  if (m.context && m.context.length > RAFT_LIMITS.contextBytes) fail(`context of ${m.context.length} bytes`);
  const s = m.snapshot;
  if (s && s.offset + s.data.length > s.total) fail(`snapshot chunk [${s.offset}, ${s.offset + s.data.length}) runs past the total ${s.total}`);
}

/** `written` maps each entry data already in the batch to its back-reference number. */
function writeMessage(w: MsgpackWriter, m: Message, written: Map<Uint8Array, number>): void {
  const fields = m.snapshot ? MESSAGE_FIXED_FIELDS + 2 : m.context ? MESSAGE_FIXED_FIELDS + 1 : MESSAGE_FIXED_FIELDS;
  w.array(fields);
  w.uint(m.type, "type");
  w.str(m.group);
  w.uint(m.to, "to");
  w.uint(m.from, "from");
  w.uint(m.term, "term");
  w.uint(m.logTerm, "logTerm");
  w.uint(m.index, "index");
  w.uint(m.commit, "commit");
  w.bool(m.reject);
  w.uint(m.rejectHint, "rejectHint");
  w.array(m.entries.length);
  for (const e of m.entries) {
    w.array(4);
    w.uint(e.term, "entry term");
    w.uint(e.index, "entry index");
    w.uint(e.type, "entry type");
    const ref = written.get(e.data);
    if (ref !== undefined) w.uint(ref, "entry data reference");
    else {
      written.set(e.data, written.size);
      w.bin(e.data);
    }
  }
  if (fields > MESSAGE_FIXED_FIELDS) {
    if (m.context) w.bin(m.context);
    else w.nil();
  }
  if (m.snapshot) writeSnapshotChunk(w, m.snapshot);
}

function writeSnapshotChunk(w: MsgpackWriter, s: SnapshotChunk): void {
  w.array(4);
  w.array(3);
  w.uint(s.meta.index, "snapshot index");
  w.uint(s.meta.term, "snapshot term");
  writeConfState(w, s.meta.confState);
  w.uint(s.offset, "snapshot offset");
  w.uint(s.total, "snapshot total");
  w.bin(s.data);
}

function writeConfState(w: MsgpackWriter, cs: ConfState): void {
  w.array(5);
  for (const list of [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext]) {
    w.array(list.length);
    for (const id of list) w.uint(id, "node id");
  }
  w.bool(cs.autoLeave);
}

/** Decodes a payload from `encodeRaftBatch`. The result holds views into `buf` (see above). */
export function decodeRaftBatch(buf: Uint8Array): Message[] {
  const r = new MsgpackReader(buf);
  let where = "raft batch";
  try {
    r.array("envelope", 2, 2);
    const version = r.uint("version");
    if (version !== RAFT_WIRE_VERSION && version !== RAFT_WIRE_VERSION_SHARED) {
      throw new DecodeError(`wire version ${version}, this broker speaks ${RAFT_WIRE_VERSION} and ${RAFT_WIRE_VERSION_SHARED}`);
    }
    const count = r.array("messages", 0, RAFT_LIMITS.messagesPerBatch);
    const out: Message[] = new Array(count);
    // Entry data written as bin so far, which a version 2 batch's later entries may refer to.
    const written: Uint8Array[] | undefined = version === RAFT_WIRE_VERSION_SHARED ? [] : undefined;
    for (let i = 0; i < count; i++) {
      where = `raft batch: message ${i}`;
      out[i] = readMessage(r, written);
    }
    where = "raft batch";
    r.end();
    return out;
  } catch (e) {
    throw wrap(e, where);
  }
}

/** Prefixes a DecodeError with where it happened; anything else is a bug and passes through. */
function wrap(e: unknown, where: string): unknown {
  return e instanceof DecodeError ? new DecodeError(`${where}: ${e.message}`) : e;
}

function nodeId(r: MsgpackReader, field: string): number {
  const id = r.uint(field);
  if (id === 0) throw new DecodeError(`${field}: node id 0 is not a node`);
  return id;
}

function readMessage(r: MsgpackReader, written: Uint8Array[] | undefined): Message {
  const fields = r.array("message", MESSAGE_FIXED_FIELDS, MESSAGE_FIXED_FIELDS + 2);
  const type = r.uint("type");
  if (!MESSAGE_TYPES.has(type)) throw new DecodeError(`type: unknown message type ${type}`);
  const group = r.str("group", RAFT_LIMITS.groupBytes);
  if (group.length === 0) throw new DecodeError("group: empty");
  const m: Message = {
    type: type as MessageType,
    group,
    to: nodeId(r, "to"),
    from: nodeId(r, "from"),
    term: r.uint("term"),
    logTerm: r.uint("logTerm"),
    index: r.uint("index"),
    commit: r.uint("commit"),
    reject: r.bool("reject"),
    rejectHint: r.uint("rejectHint"),
    entries: [],
  };
  const entryCount = r.array("entries", 0, RAFT_LIMITS.entriesPerMessage);
  if (entryCount > 0 && m.type !== MessageType.App && m.type !== MessageType.Prop) {
    throw new DecodeError(`entries: a message of type ${m.type} carries no entries`);
  }
  m.entries = new Array(entryCount);
  for (let j = 0; j < entryCount; j++) {
    let e: Entry;
    try {
      e = readEntry(r, written);
    } catch (err) {
      throw wrap(err, `entry ${j}`);
    }
    if (m.type === MessageType.App && e.index !== m.index + 1 + j) {
      throw new DecodeError(`entry ${j}: index ${e.index}, expected ${m.index + 1 + j} (entries follow index)`);
    }
    m.entries[j] = e;
  }
  if (fields > MESSAGE_FIXED_FIELDS && !r.nil()) m.context = r.bin("context", RAFT_LIMITS.contextBytes);
  if (fields > MESSAGE_FIXED_FIELDS + 1) m.snapshot = readSnapshotChunk(r);
  if ((m.type === MessageType.Snap) !== (m.snapshot !== undefined)) {
    throw new DecodeError(m.snapshot ? `snapshot: a message of type ${m.type} carries no snapshot` : "snapshot: missing on a Snap message");
  }
  return m;
}

function readEntry(r: MsgpackReader, written: Uint8Array[] | undefined): Entry {
  r.array("entry", 4, 4);
  const term = r.uint("term");
  const index = r.uint("index");
  const type = r.uint("type");
  if (!ENTRY_TYPES.has(type)) throw new DecodeError(`type: unknown entry type ${type}`);
  return { term, index, type: type as EntryType, data: readEntryData(r, written) };
}

/** Bin data, or in a version 2 batch a reference to data written earlier in it. */
function readEntryData(r: MsgpackReader, written: Uint8Array[] | undefined): Uint8Array {
  if (written === undefined || r.isBin()) {
    const data = r.bin("data", RAFT_LIMITS.dataBytes);
    written?.push(data);
    return data;
  }
  if (written.length === 0) throw new DecodeError("data: a reference, but no data was written before it");
  return written[r.uint("data reference", written.length - 1)];
}

function readSnapshotChunk(r: MsgpackReader): SnapshotChunk {
  r.array("snapshot", 4, 4);
  r.array("snapshot meta", 3, 3);
  const meta: SnapshotMeta = { index: r.uint("snapshot index"), term: r.uint("snapshot term"), confState: readConfState(r) };
  const offset = r.uint("snapshot offset");
  const total = r.uint("snapshot total");
  const data = r.bin("snapshot data", RAFT_LIMITS.dataBytes);
  if (offset + data.length > total) {
    throw new DecodeError(`snapshot: chunk [${offset}, ${offset + data.length}) runs past the total ${total}`);
  }
  return { meta, offset, total, data };
}

function readConfState(r: MsgpackReader): ConfState {
  r.array("conf state", 5, 5);
  const list = (field: string): number[] => {
    const n = r.array(field, 0, RAFT_LIMITS.nodesPerList);
    const ids: number[] = new Array(n);
    for (let i = 0; i < n; i++) ids[i] = nodeId(r, field);
    return ids;
  };
  return {
    voters: list("voters"),
    votersOutgoing: list("votersOutgoing"),
    learners: list("learners"),
    learnersNext: list("learnersNext"),
    autoLeave: r.bool("autoLeave"),
  };
}

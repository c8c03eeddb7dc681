/**
 * What a group coordinator keeps in `__consumer_offsets`, as records of the partition the group
 * hashes to (key MessagePack, first element the record version):
 * - a committed offset: key `[1, groupId, topic, partition]`, value the offset as 8 bytes big-endian;
 * - the group's members: key `[1, groupId]`, value `[generation, [[memberId, clientId, [topic…],
 *   sessionTimeoutMs, rebalanceTimeoutMs]…]]` (no members: the group emptied).
 * A request's records are one record batch, so they land whole or not at all. Replaying the
 * partition in order, last record per key wins, rebuilds every group's offsets and membership.
 */
import { DecodeError } from "../../protocol/decode-error.js";
import { MsgpackReader, encodeMsgpack } from "../../protocol/msgpack.js";
import { decodeRecords, encodeRecordBatch } from "../../protocol/record-batch.js";
import type { MemberJoin } from "./consumer-group.js";

const GROUP_RECORD_VERSION = 1;
const MAX_ID_BYTES = 1024;
const MAX_MEMBERS = 10_000;
const MAX_TOPICS = 10_000;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface OffsetCommit {
  groupId: string;
  topic: string;
  partition: number;
  offset: bigint;
}

export interface GroupMembers {
  groupId: string;
  generation: number;
  members: MemberJoin[];
}

export type GroupRecord = ({ kind: "offset" } & OffsetCommit) | ({ kind: "members" } & GroupMembers);

export function encodeOffsetBatch(commits: readonly OffsetCommit[]): Uint8Array {
  return encodeRecordBatch(
    commits.map((c) => {
      const value = Buffer.alloc(8);
      value.writeBigUInt64BE(c.offset);
      const key = encodeMsgpack((w) => {
        w.array(4);
        w.uint(GROUP_RECORD_VERSION, "version");
        w.str(c.groupId);
        w.str(c.topic);
        w.uint(c.partition, "partition");
      });
      return { key, value };
    }),
  );
}

export function encodeMembersBatch(g: GroupMembers): Uint8Array {
  const key = encodeMsgpack((w) => {
    w.array(2);
    w.uint(GROUP_RECORD_VERSION, "version");
    w.str(g.groupId);
  });
  const value = encodeMsgpack((w) => {
    w.array(2);
    w.uint(g.generation, "generation");
    w.array(g.members.length);
    for (const m of g.members) {
      w.array(5);
      w.str(m.memberId);
      w.str(m.clientId);
      w.array(m.topics.length);
      for (const t of m.topics) w.str(t);
      w.uint(m.sessionTimeoutMs, "sessionTimeoutMs");
      w.uint(m.rebalanceTimeoutMs, "rebalanceTimeoutMs");
    }
  });
  return encodeRecordBatch([{ key, value }]);
}

/** The records in one batch of an offsets partition. Throws DecodeError on anything else. */
export function decodeGroupBatch(batch: Uint8Array): GroupRecord[] {
  return decodeRecords(batch).map((r, i): GroupRecord => {
    if (!r.key || !r.value) throw new DecodeError(`group record ${i}: a key and a value expected`);
    const k = new MsgpackReader(r.key);
    const fields = k.array("group record key", 2, 4);
    const version = k.uint("version");
    if (version !== GROUP_RECORD_VERSION) throw new DecodeError(`group record ${i}: version ${version} is not ${GROUP_RECORD_VERSION}`);
    const groupId = k.str("groupId", MAX_ID_BYTES);
    if (fields === 2) {
      k.end();
      return { kind: "members", groupId, ...decodeMembers(r.value) };
    }
    if (fields !== 4 || r.value.length !== 8) throw new DecodeError(`group record ${i}: an offset record has a 4-field key and an 8-byte value`);
    const topic = k.str("topic", MAX_ID_BYTES);
    const partition = k.uint("partition", 2 ** 31 - 1);
    k.end();
    return { kind: "offset", groupId, topic, partition, offset: Buffer.from(r.value).readBigUInt64BE() };
  });
}

function decodeMembers(value: Uint8Array): Omit<GroupMembers, "groupId"> {
  const v = new MsgpackReader(value);
  v.array("group members", 2, 2);
  const generation = v.uint("generation");
  const n = v.array("members", 0, MAX_MEMBERS);
  const members: MemberJoin[] = [];
  for (let i = 0; i < n; i++) {
    v.array("member", 5, 5);
    const memberId = v.str("memberId", MAX_ID_BYTES);
    const clientId = v.str("clientId", MAX_ID_BYTES);
    const topics = Array.from({ length: v.array("topics", 0, MAX_TOPICS) }, () => v.str("topic", MAX_ID_BYTES));
    const sessionTimeoutMs = v.uint("sessionTimeoutMs", MAX_TIMEOUT_MS);
    const rebalanceTimeoutMs = v.uint("rebalanceTimeoutMs", MAX_TIMEOUT_MS);
    members.push({ memberId, clientId, topics, sessionTimeoutMs, rebalanceTimeoutMs });
  }
  v.end();
  return { generation, members };
}

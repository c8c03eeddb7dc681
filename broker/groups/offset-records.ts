/**
 * Committed offsets as records of `__consumer_offsets`: one record per committed partition, key
 * `[version, groupId, topic, partition]` (MessagePack), value the offset as 8 bytes big-endian.
 * A commit request is one record batch, so it lands whole or not at all. Replaying the partition
 * in order, last record per key wins, rebuilds every group's offsets.
 */
import { DecodeError } from "../../protocol/decode-error.js";
import { MsgpackReader, encodeMsgpack } from "../../protocol/msgpack.js";
import { decodeRecords, encodeRecordBatch } from "../../protocol/record-batch.js";

const OFFSET_RECORD_VERSION = 1;
const MAX_ID_BYTES = 1024;

export interface OffsetCommit {
  groupId: string;
  topic: string;
  partition: number;
  offset: bigint;
}

export function encodeOffsetBatch(commits: readonly OffsetCommit[]): Uint8Array {
  return encodeRecordBatch(
    commits.map((c) => {
      const value = Buffer.alloc(8);
      value.writeBigUInt64BE(c.offset);
      const key = encodeMsgpack((w) => {
        w.array(4);
        w.uint(OFFSET_RECORD_VERSION, "version");
        w.str(c.groupId);
        w.str(c.topic);
        w.uint(c.partition, "partition");
      });
      return { key, value };
    }),
  );
}

/** The commits in one batch of the offsets partition. Throws DecodeError on anything else. */
export function decodeOffsetBatch(batch: Uint8Array): OffsetCommit[] {
  return decodeRecords(batch).map((r, i) => {
    if (!r.key || !r.value || r.value.length !== 8) throw new DecodeError(`offset record ${i}: key and an 8-byte value expected`);
    const k = new MsgpackReader(r.key);
    k.array("offset key", 4, 4);
    const version = k.uint("version");
    if (version !== OFFSET_RECORD_VERSION) throw new DecodeError(`offset record ${i}: version ${version} is not ${OFFSET_RECORD_VERSION}`);
    const groupId = k.str("groupId", MAX_ID_BYTES);
    const topic = k.str("topic", MAX_ID_BYTES);
    const partition = k.uint("partition", 2 ** 31 - 1);
    k.end();
    return { groupId, topic, partition, offset: Buffer.from(r.value).readBigUInt64BE() };
  });
}

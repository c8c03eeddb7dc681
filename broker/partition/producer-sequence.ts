/**
 * Per-producer order, as Kafka's idempotent producer keeps it: an idempotent batch carries its
 * producer id, epoch and base sequence in its RecordBatch header (bytes the leader stores as they
 * are), and a partition appends a producer's batches only in sequence order. A batch whose sequence
 * leaves a gap is refused with a retriable OUT_OF_ORDER_SEQUENCE: the batches before it are still
 * on their way (a lost request the producer is retrying), and it is sent again after them.
 *
 * The state it checks against is the producer's last batch in the log (committed or not), which
 * the DedupIndex keeps beside batch ids, so every replica has it and a new leader or a restarted
 * replica rebuilds it from its log like the rest of the index (within the same window).
 */
import { FlotillaError } from "../../protocol/errors.js";

/** The idempotence fields of one batch. Sequences are int32 and wrap to 0 after 2^31 - 1. */
export interface ProducerBatch {
  producerId: bigint;
  epoch: number;
  firstSeq: number;
  lastSeq: number;
}

const SEQUENCE_SPACE = 2 ** 31;

/** The sequence after `seq`. */
export function nextSequence(seq: number): number {
  return (seq + 1) % SEQUENCE_SPACE;
}

/**
 * Throws unless `batch` may follow `last` (the producer's last batch in this partition's log):
 * - no last batch: the producer is new here (or forgotten, beyond the window): it must start at
 *   sequence 0, else UNKNOWN_PRODUCER (retriable: its first batch may still be on the way; a
 *   producer that has nothing unacknowledged before this batch starts a new epoch at 0);
 * - a higher epoch starts over at sequence 0; a lower epoch is a batch from before such a restart;
 * - same epoch: the sequence after the last one's, else OUT_OF_ORDER_SEQUENCE for a gap, or
 *   DUPLICATE_SEQUENCE for a sequence already written (a retry the batch-id window forgot).
 */
export function checkSequence(last: ProducerBatch | undefined, batch: ProducerBatch): void {
  const who = `producer ${batch.producerId} epoch ${batch.epoch}`;
  if (last === undefined) {
    if (batch.firstSeq !== 0) throw new FlotillaError("UNKNOWN_PRODUCER", `${who}: sequence ${batch.firstSeq}, but this partition has no earlier batch of the producer (a first batch has sequence 0)`);
    return;
  }
  if (batch.epoch > last.epoch) {
    if (batch.firstSeq !== 0) throw new FlotillaError("OUT_OF_ORDER_SEQUENCE", `${who}: a new epoch (after ${last.epoch}) must start at sequence 0, not ${batch.firstSeq}`);
    return;
  }
  if (batch.epoch < last.epoch) {
    throw new FlotillaError("OUT_OF_ORDER_SEQUENCE", `${who}: the producer already writes with epoch ${last.epoch}; resend the batch in the new epoch`);
  }
  const expected = nextSequence(last.lastSeq);
  if (batch.firstSeq === expected) return;
  const ahead = (batch.firstSeq - expected + SEQUENCE_SPACE) % SEQUENCE_SPACE;
  if (ahead < SEQUENCE_SPACE / 2) {
    throw new FlotillaError("OUT_OF_ORDER_SEQUENCE", `${who}: sequence ${batch.firstSeq}, expected ${expected}; the batches in between are not here yet`);
  }
  throw new FlotillaError("DUPLICATE_SEQUENCE", `${who}: sequence ${batch.firstSeq} is already written (the last batch ends at ${last.lastSeq})`);
}

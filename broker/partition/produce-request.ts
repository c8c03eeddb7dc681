/** A produce request, its answer, and the checks a request passes before anything is touched. */
import { DecodeError } from "../../protocol/decode-error.js";
import { FlotillaError } from "../../protocol/errors.js";
import { validateProducedBatch, type BatchHeader } from "../../protocol/record-batch.js";
import { BATCH_ID_SIZE } from "./entry-codec.js";

export type Acks = "all" | "leader" | "none";

export interface ProduceRequest {
  /** Exactly one Kafka RecordBatch v2, as the producer encoded it (uncompressed). */
  batch: Uint8Array;
  /** The producer's 16-byte batch UUID: a retry with the same id never lands twice. */
  batchId: Uint8Array;
  acks: Acks;
  /** The producer id and base sequence the request names, if any: they must be the batch's own. */
  producerId?: bigint;
  sequence?: number;
}

export interface ProduceResult {
  baseOffset: bigint;
}

/**
 * Checks a produce request: a 16-byte batch id, known acks, the size limit (BATCH_TOO_LARGE),
 * `validateProducedBatch` — one batch, CRC-32C, record count vs bytes (CORRUPT_BATCH) — and that
 * the producer id and sequence the request names, if any, are the batch's. Returns the batch's record count.
 */
export function validateProduceRequest(req: ProduceRequest, maxBatchBytes: number): number {
  if (!(req.batchId instanceof Uint8Array) || req.batchId.length !== BATCH_ID_SIZE) {
    throw new FlotillaError("INVALID_REQUEST", `batch id must be ${BATCH_ID_SIZE} bytes`);
  }
  if (req.acks !== "all" && req.acks !== "leader" && req.acks !== "none") throw new FlotillaError("INVALID_REQUEST", `unknown acks ${String(req.acks)}`);
  if (!(req.batch instanceof Uint8Array)) throw new FlotillaError("INVALID_REQUEST", "batch must be bytes");
  if (req.batch.length > maxBatchBytes) {
    throw new FlotillaError("BATCH_TOO_LARGE", `batch of ${req.batch.length} bytes is above the ${maxBatchBytes}-byte limit`);
  }
  let header: BatchHeader;
  try {
    header = validateProducedBatch(req.batch);
  } catch (err) {
    if (err instanceof DecodeError) throw new FlotillaError("CORRUPT_BATCH", err.message, { cause: err });
    throw err;
  }
  if (req.producerId !== undefined && (req.producerId !== header.producerId || req.sequence !== header.baseSequence)) {
    throw new FlotillaError(
      "INVALID_REQUEST",
      `the request names producer ${req.producerId} sequence ${req.sequence}, the batch producer ${header.producerId} sequence ${header.baseSequence}`,
    );
  }
  return header.recordCount;
}

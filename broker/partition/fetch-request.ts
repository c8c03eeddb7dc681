/** A fetch request, its answer, and the checks a request passes before anything is read. */
import { FlotillaError } from "../../protocol/errors.js";

export interface FetchRequest {
  offset: bigint;
  /** Byte budget of the answer; the batch holding `offset` is returned whole even if larger. */
  maxBytes: number;
  /** How long to wait for `minBytes` to become available (0: answer at once). */
  maxWaitMs: number;
  /** Wait until at least this many bytes can be returned. Default 1. */
  minBytes?: number;
  /** Bytes to leave free before the batches in `FetchResult.buffer`. Default 0. */
  headroom?: number;
  /** Where `FetchResult.buffer` comes from. Default `Buffer.allocUnsafe`. */
  alloc?: (size: number) => Buffer;
}

export interface FetchResult {
  highWatermark: bigint;
  logStartOffset: bigint;
  /** Raw record batches back to back, exactly as stored (no decoding): `buffer.subarray(headroom)`. */
  batches: Buffer;
  /**
   * A buffer of this fetch's own: the request's `headroom` bytes, free for the caller, then the
   * batches. The broker writes the response header there and sends the batches without a copy.
   */
  buffer: Buffer;
}

/** Checks the offset's range and the byte and wait budgets. */
export function validateFetchRequest(req: FetchRequest): void {
  if (typeof req.offset !== "bigint" || req.offset < 0n || req.offset > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FlotillaError("OFFSET_OUT_OF_RANGE", `offset ${String(req.offset)} is not a valid offset`);
  }
  if (!Number.isSafeInteger(req.maxBytes) || req.maxBytes <= 0) throw new FlotillaError("INVALID_REQUEST", `maxBytes ${req.maxBytes} must be > 0`);
  if (!Number.isFinite(req.maxWaitMs) || req.maxWaitMs < 0) throw new FlotillaError("INVALID_REQUEST", `maxWaitMs ${req.maxWaitMs} must be >= 0`);
  if (req.headroom !== undefined && !(Number.isSafeInteger(req.headroom) && req.headroom >= 0)) throw new FlotillaError("INVALID_REQUEST", `headroom ${req.headroom} must be an integer >= 0`);
}

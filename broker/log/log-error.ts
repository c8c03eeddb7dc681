/**
 * Errors the log gives its callers. `code` is stable; `cause` carries the system error.
 *
 * A write or fsync failure is fail-stop: the log refuses every later append until it is closed
 * and reopened, because after a failed fsync the page cache can no longer be trusted to match the
 * disk (PostgreSQL's "fsyncgate"). Reopening re-reads the files and cuts any partial tail, and
 * nothing acknowledged before the failure is touched.
 */
export const LogErrorCode = {
  /** ENOSPC / EDQUOT: the disk is full. */
  DiskFull: "DISK_FULL",
  /** EROFS / EACCES / EPERM on a write: the disk or directory is read-only. */
  ReadOnly: "READ_ONLY",
  /** Any other I/O failure (EIO on fsync, …). */
  IoError: "IO_ERROR",
  /** An earlier write or fsync failed; close and reopen the log. */
  LogFailed: "LOG_FAILED",
  /** The entry does not follow the log's last entry (index, term or offset). */
  NonContiguous: "NON_CONTIGUOUS",
  /** The entry's bytes are not a valid record batch (or are too big for a frame). */
  InvalidEntry: "INVALID_ENTRY",
  /** The entry was removed by a suffix truncation before it became durable. */
  Truncated: "TRUNCATED",
  /** The requested offset or index is below the log start (deleted by retention). */
  OutOfRange: "OUT_OF_RANGE",
  Closed: "CLOSED",
} as const;
export type LogErrorCode = (typeof LogErrorCode)[keyof typeof LogErrorCode];

export class LogError extends Error {
  constructor(
    readonly code: LogErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LogError";
  }
}

/** Maps a system error from a write or fsync to the caller-facing error. */
export function ioError(what: string, err: unknown): LogError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const mapped =
    code === "ENOSPC" || code === "EDQUOT"
      ? LogErrorCode.DiskFull
      : code === "EROFS" || code === "EACCES" || code === "EPERM"
        ? LogErrorCode.ReadOnly
        : LogErrorCode.IoError;
  return new LogError(mapped, `${what}: ${code ?? "error"} ${(err as Error | undefined)?.message ?? String(err)}`, { cause: err });
}

/**
 * A file descriptor shared by writers, readers and the fsync pool, closed only when none of them
 * still uses it. fsync runs on worker threads by fd number; closing an fd under a running fdatasync
 * (or a pread) would let the number be reused by another file, so an fd closes only at zero pins.
 */
import { close, fstat, ftruncate, open } from "node:fs";

export class FileRef {
  private pins = 0;
  private closing: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    readonly fd: number,
    /** For messages only. */
    readonly path: string,
  ) {}

  pin(): void {
    if (this.closed) throw new Error(`${this.path} is closed`);
    this.pins++;
  }

  unpin(): void {
    this.pins--;
    if (this.pins === 0 && this.closing) this.finishClose();
  }

  /** Closes the fd once every pin is released. Idempotent. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve, reject) => {
      this.closing = { resolve, reject };
      if (this.pins === 0) this.finishClose();
    });
    return this.closed;
  }

  private finishClose(): void {
    const done = this.closing;
    this.closing = undefined;
    if (!done) return;
    close(this.fd, (err) => (err ? done.reject(err) : done.resolve()));
  }
}

/** Opens `path` with a raw fd (not a FileHandle, which would close the fd when collected). */
export function openFileRef(path: string, flags: string): Promise<FileRef> {
  return new Promise((resolve, reject) => {
    open(path, flags, (err, fd) => (err ? reject(err) : resolve(new FileRef(fd, path))));
  });
}

export function fileSize(ref: FileRef): Promise<number> {
  return new Promise((resolve, reject) => fstat(ref.fd, (err, st) => (err ? reject(err) : resolve(st.size))));
}

export function truncateFile(ref: FileRef, length: number): Promise<void> {
  return new Promise((resolve, reject) => ftruncate(ref.fd, length, (err) => (err ? reject(err) : resolve())));
}

/**
 * Piscina task: fdatasync a list of file descriptors, off the main thread.
 *
 * File descriptors belong to the process, so the main thread's fds are valid here. Every fd is
 * synced even if an earlier one fails, and failures are returned per fd (not thrown) so the
 * committer can fail exactly the files whose data may be lost.
 */
import { fdatasyncSync } from "node:fs";

export interface FsyncTask {
  fds: number[];
}

export interface FsyncFailure {
  fd: number;
  code: string;
  message: string;
}

export default function fsyncFds(task: FsyncTask): FsyncFailure[] {
  const failures: FsyncFailure[] = [];
  for (const fd of task.fds) {
    try {
      fdatasyncSync(fd);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      failures.push({ fd, code: e.code ?? "EIO", message: e.message });
    }
  }
  return failures;
}

/**
 * ReadIndexWaiters: the linearizable reads waiting for their ReadIndex round. Each request gets a
 * unique context (broker id and a counter); the core answers with a ReadState carrying it, and the
 * read is released once this replica has applied up to that ReadState's index.
 */
import { FlotillaError } from "../../protocol/errors.js";
import type { ReadState } from "../raft/index.js";

interface ReadWaiter {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class ReadIndexWaiters {
  private readonly waiters = new Map<string, ReadWaiter>();
  /** ReadStates the core answered whose index is not applied yet. */
  private pendingReadStates: ReadState[] = [];
  private readCounter = 0;

  constructor(
    private readonly id: number,
    private readonly group: string,
  ) {}

  /**
   * Starts a read: `issue` hands the context to the core (a throw fails the read with that error).
   * Rejects with TIMEOUT after `timeoutMs`.
   */
  request(timeoutMs: number, issue: (ctx: Buffer) => void): Promise<void> {
    const ctx = Buffer.alloc(12);
    ctx.writeUInt32BE(this.id, 0);
    ctx.writeDoubleBE(++this.readCounter, 4);
    const key = ctx.toString("hex");
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new FlotillaError("TIMEOUT", `no read index for ${this.group} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, { resolve, reject, timer });
      try {
        issue(ctx);
      } catch (err) {
        this.waiters.delete(key);
        clearTimeout(timer);
        reject(err as Error);
      }
    });
  }

  /** Releases the reads whose ReadState index is applied; keeps the others for later. */
  answer(readStates: ReadState[], applied: number): void {
    if (readStates.length > 0) this.pendingReadStates.push(...readStates);
    if (this.pendingReadStates.length === 0) return;
    const left: ReadState[] = [];
    for (const rs of this.pendingReadStates) {
      if (rs.index > applied) {
        left.push(rs);
        continue;
      }
      const key = Buffer.from(rs.context).toString("hex");
      const w = this.waiters.get(key);
      if (w) {
        this.waiters.delete(key);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
    this.pendingReadStates = left;
  }

  rejectAll(err: Error): void {
    for (const [key, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
      this.waiters.delete(key);
    }
  }

  get size(): number {
    return this.waiters.size;
  }
}

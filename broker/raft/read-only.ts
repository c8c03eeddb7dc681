import type { Message } from "../../protocol/raft.js";

/** One ReadIndex request waiting for a quorum of heartbeat answers. */
interface PendingRead {
  /** The request (from a follower, or local when from = the leader). */
  req: Message;
  /** The leader's commit index when the request arrived: the read is served at it. */
  index: number;
  acks: Map<number, boolean>;
}

const key = (ctx: Uint8Array): string => Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString("latin1");

/**
 * ReadIndex requests in arrival order. A heartbeat round carries the context of the newest request;
 * a quorum of answers to it confirms leadership for it and for every request that came before.
 * Contexts must be unique within a group (callers make them so).
 */
export class ReadOnly {
  private pending = new Map<string, PendingRead>();
  private queue: string[] = [];

  add(index: number, req: Message): void {
    const k = key(req.context ?? new Uint8Array(0));
    if (this.pending.has(k)) return;
    this.pending.set(k, { req, index, acks: new Map() });
    this.queue.push(k);
  }

  /** Records `id`'s answer to the round of `ctx`; returns the answers so far, if the request is known. */
  recvAck(id: number, ctx: Uint8Array): Map<number, boolean> | undefined {
    const rs = this.pending.get(key(ctx));
    if (!rs) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Releases the request of `ctx` and every request queued before it. */
  advance(ctx: Uint8Array): PendingRead[] {
    const k = key(ctx);
    const i = this.queue.indexOf(k);
    if (i < 0) return [];
    const done = this.queue.slice(0, i + 1).map((q) => this.pending.get(q)!);
    for (const q of this.queue.slice(0, i + 1)) this.pending.delete(q);
    this.queue = this.queue.slice(i + 1);
    return done;
  }

  lastPendingContext(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1])!.req.context;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}

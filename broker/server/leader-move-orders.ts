/**
 * Leadership moves the controller leader has decided (leader transfer, rebalance) and not yet
 * handed out: each waits for the heartbeat of the broker it is for, whose reply carries it. Only
 * the newest decision per partition is kept (one decision orders every replica that may lead):
 * delivered late to a broker that leads by then, an older one would undo the newer move.
 */
import type { LeaderMoveOrder } from "./controller-messages.js";

export class LeaderMoveOrders {
  private readonly waiting = new Map<number, LeaderMoveOrder[]>();

  /** Queues `move` for `broker`, dropping orders still waiting (for anyone) that move the same partition elsewhere. */
  order(broker: number, move: LeaderMoveOrder): void {
    const [topic, partition, to] = move;
    for (const [b, moves] of this.waiting) this.waiting.set(b, moves.filter(([t, p, x]) => t !== topic || p !== partition || x === to));
    this.waiting.set(broker, [...(this.waiting.get(broker) ?? []), move]);
  }

  /** The orders waiting for `broker` (for its heartbeat reply); they are handed out once. */
  take(broker: number): LeaderMoveOrder[] {
    const moves = this.waiting.get(broker) ?? [];
    this.waiting.delete(broker);
    return moves;
  }

  clear(): void {
    this.waiting.clear();
  }
}

/**
 * RaftRouter: one broker's Transport shared by every Raft group the broker hosts. Incoming batches
 * are split by group and handed to that group's replica; a message for a group not hosted here
 * (deleted, not created yet, or a stale peer) is dropped, as Raft expects of a lossy network.
 */
import type { Message } from "../../protocol/raft.js";
import type { Transport } from "../transport/index.js";

export type GroupHandler = (message: Message) => void;

export class RaftRouter {
  private readonly handlers = new Map<string, GroupHandler>();
  dropped = 0;

  constructor(readonly transport: Transport) {
    transport.onMessages((_from, messages) => {
      for (const m of messages) {
        const h = this.handlers.get(m.group);
        if (h) h(m);
        else this.dropped++;
      }
    });
  }

  /** Routes the group's messages to `handler` until the returned function is called. */
  register(group: string, handler: GroupHandler): () => void {
    if (this.handlers.has(group)) throw new Error(`group ${group} is already registered on broker ${this.transport.localId}`);
    this.handlers.set(group, handler);
    return () => {
      if (this.handlers.get(group) === handler) this.handlers.delete(group);
    };
  }

  send(message: Message): void {
    this.transport.send(message.to, message);
  }
}

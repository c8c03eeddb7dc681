/** LeaderChangeEvents: the leader-change listeners of one replica; an event fires only when it changes. */
import type { Logger } from "pino";

export interface LeaderChange {
  type: "leaderChanged";
  group: string;
  topic: string;
  partition: number;
  /** 0 while there is no known leader. */
  leader: number;
  term: number;
  isLeader: boolean;
}

export class LeaderChangeEvents {
  private readonly listeners = new Set<(e: LeaderChange) => void>();
  /** What the last leader-change event said (events fire only when it changes). */
  private lastEvent = { leader: 0, isLeader: false };

  constructor(
    private readonly where: { group: string; topic: string; partition: number },
    private readonly logger: Logger,
  ) {}

  /** The leader the last event named (0: none yet). */
  get lastLeader(): number {
    return this.lastEvent.leader;
  }

  subscribe(listener: (e: LeaderChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every listener, unless the last event said the same; a throwing listener is logged. */
  publish(leader: number, isLeader: boolean, term: number): void {
    if (leader === this.lastEvent.leader && isLeader === this.lastEvent.isLeader) return;
    this.lastEvent = { leader, isLeader };
    const event: LeaderChange = {
      type: "leaderChanged",
      group: this.where.group,
      topic: this.where.topic,
      partition: this.where.partition,
      leader,
      term,
      isLeader,
    };
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.logger.error({ err }, "leader change listener threw");
      }
    }
  }
}

/**
 * A consumer's membership of its group: join, then heartbeat on a timer of its own (never behind
 * the application's handlers, so a slow eachMessage cannot cost the membership), each answer
 * being what the member may consume now. The coordinator moves partitions incrementally: what an
 * answer leaves out, the member gives up (stops, commits, then reports it no longer owned); what
 * an answer adds, it starts reading.
 *
 * A coordinator change is not a membership change: the next coordinator restores the members from
 * `__consumer_offsets`, and heartbeats go on (after a NOT_COORDINATOR or two) with nothing stopped.
 * Losing the membership (UNKNOWN_MEMBER: the session expired) means the partitions may soon be
 * someone else's: the member stops them all, commits what it finished (a coordinator that just took
 * over takes that while it hands nothing out; otherwise it is refused), and joins again. A member
 * that cannot reach its coordinator for a whole session timeout stops them on its own, since the
 * coordinator will have handed its partitions out by then.
 */
import { FlotillaError } from "../protocol/errors.js";
import type { GroupAssignment, TopicPartitions } from "../protocol/requests.js";
import type { ClientContext } from "./context.js";
import { groupCall } from "./group-requests.js";
import type { Rpc } from "./rpc.js";

export interface MembershipHost {
  /** What this member still consumes (including partitions it is giving up). */
  owned(): TopicPartitions[];
  /** The coordinator's answer: consume exactly these (give up the rest). */
  assign(assignment: TopicPartitions[]): void;
  /** Stops every partition at once (the membership is gone), with one quick try at committing. */
  stopAll(): Promise<void>;
}

export interface MembershipConfig {
  groupId: string;
  topics: string[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
}

/** Answers that mean "you are not a member any more": join again from scratch. */
const MEMBERSHIP_LOST = new Set(["UNKNOWN_MEMBER", "ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS"]);
/** How long to wait before trying again after a heartbeat that got no answer. */
const RETRY_AFTER_MS = 500;
/** The first join may wait for `__consumer_offsets` to be created and elect its leaders: patience. */
const FIRST_JOIN_RETRIES = 30;

export class GroupMembership {
  memberId: string | undefined;
  generation = 0;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private lastAnswer = 0;
  private wakeUp: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ClientContext,
    private readonly rpc: Rpc,
    private readonly config: MembershipConfig,
    private readonly host: MembershipHost,
  ) {}

  /** Joins (retrying while there is no coordinator yet), then heartbeats until `stop`. */
  async start(): Promise<void> {
    const retry = { ...this.ctx.retry, retries: Math.max(this.ctx.retry.retries, FIRST_JOIN_RETRIES) };
    const res = await groupCall(this.ctx, this.rpc, "joinGroup", this.config.groupId, this.joinRequest(), { retry });
    this.memberId = res.memberId;
    this.answered(res);
    this.running = true;
    this.loopDone = this.loop(res.heartbeatIntervalMs);
  }

  /** Heartbeat now (a partition was given up: let the coordinator hand it on). */
  poke(): void {
    this.wakeUp?.();
  }

  /** Stops heartbeating (and so assigning); resolves once no heartbeat is under way. */
  async stop(): Promise<void> {
    this.running = false;
    this.poke();
    await this.loopDone;
  }

  /** Leaves the group (after `stop`), so the coordinator hands the partitions on at once. */
  async leave(): Promise<void> {
    const memberId = this.memberId;
    this.memberId = undefined;
    if (memberId === undefined) return;
    await groupCall(this.ctx, this.rpc, "leaveGroup", this.config.groupId, { groupId: this.config.groupId, memberId }, { retry: { ...this.ctx.retry, retries: 2 } }).catch(() => undefined);
  }

  private joinRequest() {
    const c = this.config;
    return {
      groupId: c.groupId,
      ...(this.memberId !== undefined && { memberId: this.memberId }),
      clientId: this.ctx.clientId,
      topics: c.topics,
      sessionTimeoutMs: c.sessionTimeoutMs,
      rebalanceTimeoutMs: c.rebalanceTimeoutMs,
    };
  }

  private answered(res: GroupAssignment): void {
    this.lastAnswer = Date.now();
    this.generation = res.generation;
    this.host.assign(res.assignment);
  }

  private async loop(firstInterval: number): Promise<void> {
    let interval = firstInterval;
    while (this.running) {
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.timer = setTimeout(resolve, interval);
      });
      clearTimeout(this.timer);
      if (!this.running) return;
      interval = await this.beat();
    }
  }

  /** One heartbeat (or join); returns how long to wait before the next. */
  private async beat(): Promise<number> {
    const c = this.config;
    // One attempt per beat, answered within a third of the session: the loop itself is the retry.
    const options = { retry: { ...this.ctx.retry, retries: 0 }, timeoutMs: Math.max(1000, Math.floor(c.sessionTimeoutMs / 3)) };
    try {
      let res: GroupAssignment;
      if (this.memberId === undefined) {
        const joined = await groupCall(this.ctx, this.rpc, "joinGroup", c.groupId, this.joinRequest(), options);
        this.memberId = joined.memberId;
        res = joined;
      } else {
        res = await groupCall(this.ctx, this.rpc, "heartbeat", c.groupId, { groupId: c.groupId, memberId: this.memberId, generation: this.generation, owned: this.host.owned() }, options);
      }
      this.answered(res);
      return res.heartbeatIntervalMs;
    } catch (e) {
      if (e instanceof FlotillaError && MEMBERSHIP_LOST.has(e.code)) {
        // Commits on the way out still name the old membership (a new coordinator accepts them).
        await this.host.stopAll();
        this.memberId = undefined;
        return 0;
      }
      if (Date.now() - this.lastAnswer > c.sessionTimeoutMs) await this.host.stopAll();
      return RETRY_AFTER_MS;
    }
  }
}

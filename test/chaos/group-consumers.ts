/**
 * A consumer group reading the chaos topic throughout the run: members of one group
 * (`flotilla.consumer({ groupId })`, from the beginning, auto-commit), every delivered record
 * observed in the History (a record delivered with another value than the readers saw diverges).
 * The nemesis makes a member leave and a new one join now and then (`rejoin`), so partitions move.
 *
 * Delivery is at-least-once: a record delivered twice is fine, one never delivered is not. At the
 * end, with the load stopped, the group must be handed every record up to each partition's high
 * watermark (`drain`); an offset below the highest one delivered that no member was ever handed
 * counts as groupSkipped, and a group that never gets to the end fails the run.
 */
import type { Consumer, Flotilla } from "../../client/index.js";
import type { FinalRead, History } from "./history.js";

export const GROUP_ID = "chaos-group";
const DRAIN_POLL_MS = 250;

export class GroupConsumers {
  private readonly members: Array<Consumer | undefined> = [];
  /** partition → offsets handed to any member. */
  private readonly delivered = new Map<number, Set<bigint>>();
  private joined = 0;

  constructor(
    private readonly client: Flotilla,
    private readonly topic: string,
    private readonly history: History,
  ) {}

  async start(members: number): Promise<void> {
    for (let i = 0; i < members; i++) this.members.push(await this.join());
  }

  /** Member `pick` (a draw in [0, 1)) leaves the group (committing what it finished); a new member joins. */
  async rejoin(pick: number, say: (line: string) => void): Promise<void> {
    const i = Math.floor(pick * this.members.length);
    say(`nemesis: consumer group member ${i} leaves, a new one joins`);
    const leaving = this.members[i];
    this.members[i] = undefined;
    await leaving?.disconnect();
    this.members[i] = await this.join();
  }

  /**
   * Waits up to `timeoutMs` for the group to be handed every record of `finals`, then stops the
   * members. Records holes (never handed, below what was) as groupSkipped; throws when the group
   * did not get to the end of a partition.
   */
  async drain(finals: ReadonlyMap<number, FinalRead>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.missing(finals).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    await this.stop();
    const behind: string[] = [];
    for (const { partition, offsets } of this.missing(finals)) {
      const got = this.delivered.get(partition) ?? new Set<bigint>();
      const highest = [...got].reduce((a, b) => (b > a ? b : a), -1n);
      const holes = offsets.filter((o) => o < highest);
      if (holes.length > 0) this.history.groupSkipped(holes.length, `partition ${partition}: ${holes.length} offsets from ${holes[0]} never handed to a member, though ${highest} was`);
      if (highest + 1n < finals.get(partition)!.highWatermark) behind.push(`partition ${partition} at ${highest + 1n} of ${finals.get(partition)!.highWatermark}`);
    }
    if (behind.length > 0) throw new Error(`the consumer group did not get to the end within ${timeoutMs} ms: ${behind.join(", ")}`);
  }

  async stop(): Promise<void> {
    const members = this.members.splice(0);
    await Promise.all(members.map((m) => m?.disconnect().catch(() => undefined)));
  }

  private async join(): Promise<Consumer> {
    const who = `group member #${this.joined++}`;
    const member = this.client.consumer({ groupId: GROUP_ID, sessionTimeoutMs: 6000 });
    await member.connect();
    await member.subscribe({ topic: this.topic, fromBeginning: true });
    await member.run({
      eachMessage: async ({ partition, message }) => {
        this.history.observe(partition, message.offset, message.value?.toString() ?? "<null>", who);
        let offsets = this.delivered.get(partition);
        if (!offsets) this.delivered.set(partition, (offsets = new Set()));
        offsets.add(message.offset);
      },
    });
    return member;
  }

  /** Per partition, the offsets from the log start to the high watermark not handed to any member yet. */
  private missing(finals: ReadonlyMap<number, FinalRead>): Array<{ partition: number; offsets: bigint[] }> {
    const out: Array<{ partition: number; offsets: bigint[] }> = [];
    for (const [partition, final] of finals) {
      const got = this.delivered.get(partition);
      const offsets: bigint[] = [];
      for (let o = final.logStartOffset; o < final.highWatermark; o++) if (!got?.has(o)) offsets.push(o);
      if (offsets.length > 0) out.push({ partition, offsets });
    }
    return out;
  }
}

import { MessageType, type Message } from "../../protocol/raft.js";

const TYPE_NAMES = new Map<number, string>(Object.entries(MessageType).map(([name, v]) => [v, name]));

interface TraceEvent {
  tick: number;
  /** A delivered message, formatted only if the trace is ever printed. */
  message?: Message;
  text?: string;
}

/**
 * The last few things that happened in a run, kept in a ring so that recording is cheap and a
 * violation can be explained. Messages are stored by reference and formatted only on demand.
 */
export class Trace {
  private readonly ring: (TraceEvent | undefined)[];
  private next = 0;

  constructor(readonly capacity = 40) {
    this.ring = new Array<TraceEvent | undefined>(capacity);
  }

  /** Heartbeats are left out: they would crowd everything else out of a short trace. */
  message(tick: number, m: Message): void {
    if (m.type === MessageType.Heartbeat || m.type === MessageType.HeartbeatResp) return;
    this.push({ tick, message: m });
  }

  note(tick: number, text: string): void {
    this.push({ tick, text });
  }

  /** Oldest first. */
  lines(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const e = this.ring[(this.next + i) % this.capacity];
      if (e === undefined) continue;
      out.push(`t=${e.tick} ${e.message !== undefined ? formatMessage(e.message) : (e.text ?? "")}`);
    }
    return out;
  }

  private push(e: TraceEvent): void {
    this.ring[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
  }
}

export function formatMessage(m: Message): string {
  let s = `${TYPE_NAMES.get(m.type) ?? m.type} ${m.from}->${m.to} term=${m.term}`;
  if (m.index !== 0 || m.logTerm !== 0) s += ` idx=${m.index} logTerm=${m.logTerm}`;
  if (m.entries.length > 0) {
    const first = m.entries[0];
    const last = m.entries[m.entries.length - 1];
    s += ` entries=${first.index}..${last.index}@${first.term === last.term ? first.term : `${first.term}..${last.term}`}`;
  }
  if (m.commit !== 0) s += ` commit=${m.commit}`;
  if (m.reject) s += ` reject hint=${m.rejectHint}`;
  if (m.snapshot !== undefined) s += ` snap=${m.snapshot.meta.index}@${m.snapshot.meta.term} chunk=${m.snapshot.offset}/${m.snapshot.total}`;
  return s;
}

/**
 * The load that runs through the whole chaos run, through the client library only:
 *
 * - producers (idempotent, acks "all", several batches in flight), each message a unique id sent
 *   to an explicit partition, every acknowledgement recorded in the History;
 * - plain readers (`flotilla.fetch`), two per partition (one "leader", one "linearizable"), each
 *   reading its partition from offset 0 onwards, every record observed in the History.
 *
 * A send that fails after the client's own retries is not an error of the run: its messages are
 * indeterminate (counted as `unacked`), and the checker only requires that they are not duplicated.
 */
import { Flotilla, type Producer } from "../../client/index.js";
import type { History } from "./history.js";

export interface WorkloadOptions {
  natsUrl: string;
  cluster: string;
  topic: string;
  partitions: number;
  producers: number;
  /** Concurrent send loops per producer. */
  sendLoops: number;
  /** Messages per send, and the pause between sends of one loop. */
  messagesPerSend: number;
  pauseMs: number;
  /** Makes values unique across runs sharing a log directory. */
  runId: string;
  say: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Clients that give a broker time to come back: a fault lasts seconds, not minutes. */
export function chaosClient(o: { natsUrl: string; cluster: string }, clientId: string): Flotilla {
  return new Flotilla({ servers: o.natsUrl, cluster: o.cluster, clientId, requestTimeoutMs: 5000, retry: { retries: 30, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 } });
}

export class Workload {
  unacked = 0;
  /** The last error a producer or reader gave up on, for the progress line. */
  lastError: string | undefined;
  private stopped = false;
  private readonly running: Promise<void>[] = [];
  private readonly clients: Flotilla[] = [];
  private readonly producers: Producer[] = [];
  /** Next offset of each reader, for progress. */
  readonly readerOffsets = new Map<string, bigint>();

  constructor(
    private readonly o: WorkloadOptions,
    private readonly history: History,
  ) {}

  async start(): Promise<void> {
    for (let p = 0; p < this.o.producers; p++) {
      const client = chaosClient(this.o, `chaos-producer-${p}`);
      const producer = client.producer({ acks: "all", idempotent: true, lingerMs: 2, maxInFlight: 5 });
      await producer.connect();
      this.clients.push(client);
      this.producers.push(producer);
      for (let loop = 0; loop < this.o.sendLoops; loop++) this.running.push(this.sendLoop(producer, `${this.o.runId}-p${p}l${loop}`));
    }
    const readers = chaosClient(this.o, "chaos-readers");
    this.clients.push(readers);
    for (let partition = 0; partition < this.o.partitions; partition++) {
      for (const consistency of ["leader", "linearizable"] as const) this.running.push(this.readLoop(readers, partition, consistency));
    }
  }

  /** Stops sending and reading; waits for sends in flight to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
    await Promise.all(this.producers.map((p) => p.disconnect().catch(() => undefined)));
    await Promise.all(this.clients.map((c) => c.disconnect().catch(() => undefined)));
  }

  private async sendLoop(producer: Producer, name: string): Promise<void> {
    for (let seq = 0; !this.stopped; ) {
      const messages = Array.from({ length: this.o.messagesPerSend }, () => {
        const value = `${name}-${seq}`;
        return { value, partition: seq++ % this.o.partitions };
      });
      try {
        const acks = await producer.send({ topic: this.o.topic, messages });
        acks.forEach((a, i) => this.history.ack(messages[i].value, a.partition, a.offset));
      } catch (e) {
        this.unacked += messages.length;
        this.lastError = `send: ${(e as Error).message}`;
      }
      await sleep(this.o.pauseMs);
    }
  }

  private async readLoop(client: Flotilla, partition: number, consistency: "leader" | "linearizable"): Promise<void> {
    const reader = `${consistency} reader of partition ${partition}`;
    let offset = 0n;
    while (!this.stopped) {
      try {
        const r = await client.fetch({ topic: this.o.topic, partition, offset, maxWaitMs: 500, consistency });
        for (const rec of r.records) {
          this.history.readerMoved(partition, offset, rec.offset, reader);
          this.history.observe(partition, rec.offset, rec.value?.toString() ?? "<null>", reader);
          offset = rec.offset + 1n;
        }
        this.readerOffsets.set(reader, offset);
      } catch (e) {
        this.lastError = `${reader}: ${(e as Error).message}`;
        await sleep(200);
      }
    }
  }
}

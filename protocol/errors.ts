/**
 * Error codes, as data: what goes on the wire (`id`), whether a client may simply try again
 * (`retriable`), whether it should first refresh its metadata because the error means "you asked
 * the wrong broker" (`refreshMetadata`), and a default message for people.
 *
 * `id` is Flotilla's own and stable forever: never renumber, only add. `kafka` is the code a Kafka
 * client expects for the same condition (several of ours map to one of Kafka's), kept here so a
 * Kafka-protocol gateway can answer without a second table. Retriable and refresh flags follow
 * Kafka's where the meaning is the same, so KafkaJS users see familiar behaviour.
 */

export interface ErrorSpec {
  readonly id: number;
  readonly kafka: number;
  readonly retriable: boolean;
  readonly refreshMetadata: boolean;
  readonly message: string;
}

export const ErrorCode = {
  INTERNAL: { id: 1, kafka: -1, retriable: false, refreshMetadata: false, message: "The broker hit an unexpected error." },
  INVALID_REQUEST: { id: 2, kafka: 42, retriable: false, refreshMetadata: false, message: "The request is malformed or breaks the protocol." },
  UNSUPPORTED_VERSION: { id: 3, kafka: 35, retriable: false, refreshMetadata: false, message: "The peer speaks a wire version this broker does not." },
  TIMEOUT: { id: 4, kafka: 7, retriable: true, refreshMetadata: true, message: "The request timed out." },

  UNKNOWN_TOPIC: { id: 10, kafka: 3, retriable: true, refreshMetadata: true, message: "The topic does not exist (yet)." },
  INVALID_PARTITION: { id: 11, kafka: 3, retriable: false, refreshMetadata: true, message: "The topic has no such partition." },
  INVALID_TOPIC: { id: 12, kafka: 17, retriable: false, refreshMetadata: false, message: "The topic name is not legal: at most 249 of [a-zA-Z0-9._-], not '.' or '..'." },
  TOPIC_EXISTS: { id: 13, kafka: 36, retriable: false, refreshMetadata: false, message: "A topic of that name already exists." },
  INVALID_CONFIG: { id: 14, kafka: 40, retriable: false, refreshMetadata: false, message: "A configuration value is not valid." },
  INVALID_REPLICATION_FACTOR: { id: 15, kafka: 38, retriable: false, refreshMetadata: false, message: "The replication factor is not possible with the live brokers." },

  NOT_LEADER: { id: 20, kafka: 6, retriable: true, refreshMetadata: true, message: "This broker is not the partition's leader." },
  NO_LEADER: { id: 21, kafka: 5, retriable: true, refreshMetadata: true, message: "The partition has no leader at the moment (an election is under way)." },
  NOT_CONTROLLER: { id: 22, kafka: 41, retriable: true, refreshMetadata: true, message: "This broker is not the controller leader." },
  STORAGE_ERROR: { id: 23, kafka: 56, retriable: true, refreshMetadata: true, message: "The broker could not read or write its disk for this partition." },

  BATCH_TOO_LARGE: { id: 30, kafka: 10, retriable: false, refreshMetadata: false, message: "The record batch is larger than the broker accepts." },
  CORRUPT_BATCH: { id: 31, kafka: 2, retriable: true, refreshMetadata: false, message: "The record batch failed its CRC or is otherwise malformed." },
  OFFSET_OUT_OF_RANGE: { id: 32, kafka: 1, retriable: false, refreshMetadata: false, message: "The offset is outside the partition's range of offsets." },
  /** The batch was written before: the broker answers with the first write's offsets, so clients rarely see this. */
  DUPLICATE_SEQUENCE: { id: 33, kafka: 46, retriable: false, refreshMetadata: false, message: "The batch's sequence number was already written." },
  /** Retriable: the batches before it may still be on their way (a lost request being retried). */
  OUT_OF_ORDER_SEQUENCE: { id: 34, kafka: 45, retriable: true, refreshMetadata: false, message: "The batch's sequence number leaves a gap after the producer's last." },
  /** The partition has no state for the producer (new to it, or forgotten): its first batch must have sequence 0. */
  UNKNOWN_PRODUCER: { id: 35, kafka: 59, retriable: true, refreshMetadata: false, message: "The partition does not know this producer id; its first batch must have sequence 0." },

  NOT_COORDINATOR: { id: 40, kafka: 16, retriable: true, refreshMetadata: true, message: "This broker is not the group's coordinator." },
  /** The member must join the group again (with no member id), not retry. */
  UNKNOWN_MEMBER: { id: 41, kafka: 25, retriable: false, refreshMetadata: false, message: "The group does not know this member." },
  /** The member must rejoin to get the new assignment, not retry. */
  REBALANCE_IN_PROGRESS: { id: 42, kafka: 27, retriable: false, refreshMetadata: false, message: "The group is rebalancing; rejoin it." },
  /** The member's generation is stale: it must rejoin. */
  ILLEGAL_GENERATION: { id: 43, kafka: 22, retriable: false, refreshMetadata: false, message: "The generation is not the group's current one." },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCodeName = keyof typeof ErrorCode;

const BY_ID = new Map<number, ErrorCodeName>(
  (Object.keys(ErrorCode) as ErrorCodeName[]).map((code) => [ErrorCode[code].id, code]),
);

/** The code with this wire id, or undefined for an id this version does not know. */
export function errorCodeById(id: number): ErrorCodeName | undefined {
  return BY_ID.get(id);
}

/** An error as it travels in a response. */
export interface WireError {
  id: number;
  message: string;
  /** NOT_LEADER: the node this broker believes leads the partition, when it knows one. */
  leader?: number;
}

export interface FlotillaErrorOptions {
  cause?: unknown;
  /** NOT_LEADER only: the leader this broker knows of. */
  leader?: number;
}

/**
 * Every error Flotilla reports to a caller. `code` is stable and meant for programs; `retriable`
 * says a retry (with backoff) may succeed; `refreshMetadata` says to look up the leader first.
 */
export class FlotillaError extends Error {
  readonly code: ErrorCodeName;
  readonly retriable: boolean;
  readonly refreshMetadata: boolean;
  readonly leader?: number;

  constructor(code: ErrorCodeName, message: string = ErrorCode[code].message, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "FlotillaError";
    this.code = code;
    this.retriable = ErrorCode[code].retriable;
    this.refreshMetadata = ErrorCode[code].refreshMetadata;
    if (options.leader !== undefined) this.leader = options.leader;
  }

  toWire(): WireError {
    const w: WireError = { id: ErrorCode[this.code].id, message: this.message };
    if (this.leader !== undefined) w.leader = this.leader;
    return w;
  }

  /**
   * Rebuilds an error from a response. An id this version does not know (a newer broker) becomes
   * INTERNAL with the id in the message, so it is reported, not retried blindly.
   */
  static fromWire(w: WireError): FlotillaError {
    const code = errorCodeById(w.id);
    if (code === undefined) return new FlotillaError("INTERNAL", `unknown error id ${w.id}: ${w.message}`);
    const leader = Number.isSafeInteger(w.leader) && (w.leader as number) > 0 ? w.leader : undefined;
    return new FlotillaError(code, w.message, { leader });
  }
}

/** True for a FlotillaError a caller may retry. Anything else (programming errors included) is not. */
export function isRetriable(e: unknown): boolean {
  return e instanceof FlotillaError && e.retriable;
}

/**
 * A replica this broker hosts, with what serving it takes: the produce/fetch subscriptions held
 * exactly while it leads, the follower-fetch subscription held while it is hosted, and the
 * leadership times the move to the preferred leader goes by.
 */
import type { PartitionReplica } from "../partition/index.js";
import type { BusSubscription } from "../transport/index.js";

export interface LocalPartition {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  readonly dir: string;
  readonly replica: PartitionReplica;
  subs: BusSubscription[];
  /** This broker's replica-fetch subject (data partitions only). */
  replicaFetch?: BusSubscription;
  offLeader: () => void;
  /** When this replica last became leader (0: it does not lead), and when it last handed leadership to the preferred replica. */
  leaderSince: number;
  lastPreferredMove: number;
}

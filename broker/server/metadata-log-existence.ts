/**
 * Whether this controller's replica of the metadata log existed before it opens it. A controller
 * whose directory was wiped must not open the metadata log as new: it would vote with an empty log
 * and could elect a leader missing committed metadata, the trap partitions avoid by RECOVERING
 * (broker/partition/replica-recovery.ts). With the whole directory gone nothing local tells, so the
 * cluster is asked: the controller leader (the `controller` subject) or any broker that has caught
 * up with the metadata log (the `metadata` subject) answering at all means the log exists, and the
 * replica opens RECOVERING, voting again once it has caught up with a leader. At a cluster's first
 * start nobody answers ("no responders" comes back at once) and the log is new. Known limit: with
 * every broker down, a wiped controller that starts first cannot tell, and opens as new.
 */
import { existsSync } from "node:fs";
import { encodeRequest } from "../../protocol/requests.js";
import { subjects } from "../../protocol/subjects.js";
import type { StateStore } from "../state/index.js";
import type { MessageBus } from "../transport/index.js";
import { encodeControllerMessage } from "./controller-messages.js";

export async function metadataLogExisted(a: { bus: MessageBus; cluster: string; store: StateStore; group: string; dir: string; timeoutMs: number }): Promise<boolean> {
  // Anything local: the replica's own checks (incarnation in both stores) take it from there.
  if (a.store.hardState(a.group) !== undefined || existsSync(a.dir)) return true;
  const answered = (subject: string, data: Uint8Array): Promise<boolean> => a.bus.request(subject, data, a.timeoutMs).then(
    () => true,
    () => false,
  );
  const answers = await Promise.all([
    answered(subjects.controller(a.cluster), encodeControllerMessage({ type: "runtime" })),
    answered(subjects.metadata(a.cluster), encodeRequest("metadata", {})),
  ]);
  return answers.includes(true);
}

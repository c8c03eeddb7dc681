import { ConfChangeType, type ConfChange, type ConfChangeSingle } from "./raft.js";
import { DecodeError } from "./decode-error.js";
import { MsgpackReader, encodeMsgpack } from "./msgpack.js";

/**
 * A ConfChange travels as the data of a ConfChange entry: msgpack
 * `[transition, [[type, nodeId], ...], context?]`, transition being the index in TRANSITIONS.
 * The decoded `context` is a view into the entry data, not a copy.
 */
const TRANSITIONS = ["auto", "joint-implicit", "joint-explicit"] as const;
const CONF_CHANGE_TYPES = new Set<number>(Object.values(ConfChangeType));
const MAX_CHANGES = 1024;
const MAX_CONTEXT_BYTES = 1 << 20;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const transition = TRANSITIONS.indexOf(cc.transition);
  if (transition < 0) throw new RangeError(`encodeConfChange: unknown transition ${String(cc.transition)}`);
  if (cc.changes.length > MAX_CHANGES) throw new RangeError(`encodeConfChange: ${cc.changes.length} changes, at most ${MAX_CHANGES}`);
  return encodeMsgpack((w) => {
    w.array(cc.context ? 3 : 2);
    w.uint(transition, "transition");
    w.array(cc.changes.length);
    for (const c of cc.changes) {
      w.array(2);
      w.uint(c.type, "change type");
      w.uint(c.nodeId, "node id");
    }
    if (cc.context) w.bin(cc.context);
  });
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const r = new MsgpackReader(data);
  let where = "conf change";
  try {
    const fields = r.array("body", 2, 3);
    const transition = TRANSITIONS[r.uint("transition", TRANSITIONS.length - 1)];
    const n = r.array("changes", 0, MAX_CHANGES);
    const changes: ConfChangeSingle[] = new Array(n);
    for (let i = 0; i < n; i++) {
      where = `conf change: change ${i}`;
      r.array("change", 2, 2);
      const type = r.uint("type");
      if (!CONF_CHANGE_TYPES.has(type)) throw new DecodeError(`type: unknown change type ${type}`);
      const nodeId = r.uint("node id");
      if (nodeId === 0) throw new DecodeError("node id: 0 is not a node");
      changes[i] = { type: type as ConfChangeType, nodeId };
    }
    where = "conf change";
    const cc: ConfChange = { transition, changes };
    if (fields === 3 && !r.nil()) cc.context = r.bin("context", MAX_CONTEXT_BYTES);
    r.end();
    return cc;
  } catch (e) {
    throw e instanceof DecodeError ? new DecodeError(`${where}: ${e.message}`) : e;
  }
}

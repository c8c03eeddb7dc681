import { Decoder, Encoder } from "@msgpack/msgpack";
import { ConfChangeType, type ConfChange, type ConfChangeSingle } from "./raft.js";
import { DecodeError } from "./decode-error.js";

/**
 * A ConfChange travels as the data of a ConfChange entry: msgpack
 * `[transition, [[type, nodeId], ...], context?]`.
 */
const TRANSITIONS = ["auto", "joint-implicit", "joint-explicit"] as const;
const encoder = new Encoder();
const decoder = new Decoder({ maxArrayLength: 1024, maxBinLength: 1 << 20, maxStrLength: 1024, maxMapLength: 0 });

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const changes = cc.changes.map((c) => [c.type, c.nodeId]);
  const body: unknown[] = [TRANSITIONS.indexOf(cc.transition), changes];
  if (cc.context) body.push(cc.context);
  return encoder.encode(body);
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let v: unknown;
  try {
    v = decoder.decode(data);
  } catch (e) {
    throw new DecodeError(`conf change: ${(e as Error).message}`);
  }
  if (!Array.isArray(v) || v.length < 2 || !Array.isArray(v[1])) throw new DecodeError("conf change: not [transition, changes]");
  const transition = TRANSITIONS[v[0] as number];
  if (transition === undefined) throw new DecodeError(`conf change: unknown transition ${String(v[0])}`);
  const changes: ConfChangeSingle[] = (v[1] as unknown[]).map((c) => {
    if (!Array.isArray(c) || c.length !== 2) throw new DecodeError("conf change: a change is not [type, nodeId]");
    const [type, nodeId] = c as [number, number];
    if (!Object.values(ConfChangeType).includes(type as ConfChangeType)) throw new DecodeError(`conf change: unknown type ${type}`);
    if (!Number.isSafeInteger(nodeId) || nodeId <= 0) throw new DecodeError(`conf change: bad node id ${String(nodeId)}`);
    return { type: type as ConfChangeType, nodeId };
  });
  const cc: ConfChange = { transition, changes };
  if (v[2] instanceof Uint8Array) cc.context = v[2];
  return cc;
}

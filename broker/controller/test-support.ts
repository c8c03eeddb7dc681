/**
 * Helpers for this folder's tests: a metadata log that numbers records itself, a cluster of
 * registered, unfenced brokers in one call, and readable topic ids.
 */
import assert from "node:assert/strict";
import { MetadataImage, type ApplyResult, type MetadataEvent, type Rejection } from "./metadata-image.js";
import type { MetadataRecord } from "./metadata-records.js";

/** A lower-case UUID made from a small number: `topicId(7)` = "00000000-0000-4000-8000-000000000007". */
export function topicId(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
}

/** A metadata log applied in order, as a broker applies the committed log. */
export class TestLog {
  image: MetadataImage = MetadataImage.EMPTY;

  apply(record: MetadataRecord): ApplyResult {
    const result = this.image.apply(record, this.image.appliedIndex + 1);
    this.image = result.image;
    return result;
  }

  /** Applies a record that must be accepted; returns its events. */
  ok(record: MetadataRecord): readonly MetadataEvent[] {
    const result = this.apply(record);
    assert.equal(result.rejected, null, `${record.type} was rejected: ${result.rejected?.reason}`);
    return result.events;
  }

  /** Applies a record that must be rejected; returns why. */
  rejected(record: MetadataRecord): Rejection {
    const before = this.image;
    const result = this.apply(record);
    assert.ok(result.rejected, `${record.type} was accepted`);
    assert.deepEqual(result.events, []);
    assert.deepEqual(this.image.brokers(), before.brokers(), "a rejected record changed the brokers");
    assert.deepEqual(this.image.topics(), before.topics(), "a rejected record changed the topics");
    return result.rejected;
  }

  /** Registers each broker and unfences it. */
  brokers(ids: readonly number[], racks: Readonly<Record<number, string>> = {}): this {
    for (const id of ids) {
      const rack = racks[id];
      this.ok({ type: "registerBroker", brokerId: id, incarnation: `incarnation-${id}-${this.image.appliedIndex}`, endpoints: [], ...(rack !== undefined && { rack }) });
      this.ok({ type: "unfenceBroker", brokerId: id, brokerEpoch: this.image.appliedIndex });
    }
    return this;
  }
}

/**
 * V8 garbage-collector tuning for a broker process (not for embedded brokers: the flag is the
 * whole process's).
 *
 * A broker's JS heap is small (~15 MB) while tens of MB/s of Buffers pass through it. V8 sets the
 * old generation's next limit at the live heap times a growth factor it estimates (1.1–4), which
 * for a 15 MB heap leaves ~10 MB of slack; V8 starts incremental marking as soon as that slack is
 * below the young generation's capacity (up to 16 MB), so a busy broker ran a full mark-compact
 * every 0.3–0.5 s: 12–34 per broker in a 10 s `bench produce --rate 10000` run, 77–198 ms of
 * main-thread pauses each, up to 72 ms at once — most of the produce p99. With the factor pinned
 * at V8's own maximum (4) the same run has 3–5 (8–32 ms). The price is an old-generation limit of
 * 4× the live heap instead of ~1.5×: tens of MB for a broker, whose memory is mostly off-heap.
 *
 * `--heap-growing-percent` is read each time V8 recomputes its limits, so setting it at start-up
 * (after the heap exists) takes effect from the first collection.
 */
import { setFlagsFromString } from "node:v8";

export function tuneGarbageCollector(): void {
  setFlagsFromString("--heap-growing-percent=300");
}

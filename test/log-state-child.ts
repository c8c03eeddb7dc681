/**
 * Killed by the state crash test: bumps a group's term in a loop, printing "flushed <term>" once
 * `putHardState` resolved (which promises the write is on disk).
 */
import { StateStore } from "../broker/state/state-store.js";

const store = StateStore.open({ path: process.argv[2] });
let term = store.hardState("g")?.term ?? 0;
for (;;) {
  term++;
  await store.write({ hardStates: [["g", { term, vote: term % 3, commit: term * 2 }]], records: [["meta", "term", term]] });
  process.stdout.write(`flushed ${term}\n`);
}

/**
 * Whether a broker process's exit is a crash, given why the nemesis (or nobody) stopped it.
 *
 * A SIGTERM is expected to end in exit 0: the broker hands its leaderships away and stops, and one
 * that arrives while it starts is remembered and honoured once started (broker/server/process.ts).
 * Before that handler exists (Node booting, the module graph loading: over a second on a loaded
 * machine) the signal's default action ends the process, as a kill -9 would, before it has done
 * anything; that is not a broker failure. The broker logs nothing before its handler is installed,
 * so "ended by SIGTERM with nothing logged" is that window, and a broker that had logged and still
 * died of the signal (no handler at all) remains a crash.
 */
export interface BrokerExit {
  /** Why the harness stopped it: kill -9 (any exit is fine), SIGTERM (exit 0 expected), or not at all. */
  stopping: "kill" | "term" | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Bytes the process wrote to its log. */
  loggedBytes: number;
}

/** What went wrong, for the report; undefined when the exit was expected. */
export function unexpectedExit(e: BrokerExit, clusterStopping: boolean): string | undefined {
  const how = e.signal ?? `code ${e.code}`;
  if (e.stopping === "term") {
    if (e.code === 0) return undefined;
    if (e.signal === "SIGTERM" && e.loggedBytes === 0) return undefined;
    return `did not stop cleanly after SIGTERM (${how})`;
  }
  if (e.stopping === undefined && !clusterStopping) return `exited by itself (${how})`;
  return undefined;
}

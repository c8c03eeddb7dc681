/**
 * The broker as an operating-system process: what `flotilla broker …` runs. Starts a Broker and
 * stops it gracefully on SIGTERM / SIGINT (leadership handed away first); a second signal exits at once.
 */
import { Broker } from "./broker.js";
import { tuneGarbageCollector } from "./gc-tuning.js";
import { parseBrokerArgs, type BrokerOptions } from "./options.js";

export interface BrokerProcess {
  broker: Broker;
  /** Resolves once the broker has stopped after a signal (or `stop()`). */
  stopped: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a broker from parsed options (or from argv-like flags, e.g. `["--id", "1", …]`) and
 * installs the signal handlers. With `exitOnStop` (default true) the process exits 0 after a
 * signal-driven stop.
 */
export async function runBrokerProcess(options: BrokerOptions | readonly string[], settings: { exitOnStop?: boolean } = {}): Promise<BrokerProcess> {
  const parsed = Array.isArray(options) ? parseBrokerArgs(options as readonly string[]) : (options as BrokerOptions);
  tuneGarbageCollector();
  // A signal while the broker starts must not kill the process half-way (the default action):
  // remember it, and stop gracefully once started.
  let early: NodeJS.Signals | undefined;
  const onEarlySignal = (signal: NodeJS.Signals): void => void (early ??= signal);
  process.on("SIGTERM", onEarlySignal);
  process.on("SIGINT", onEarlySignal);
  let broker: Broker;
  try {
    broker = await Broker.start(parsed);
  } finally {
    process.off("SIGTERM", onEarlySignal);
    process.off("SIGINT", onEarlySignal);
  }
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const stop = (): Promise<void> => {
    stopping ??= broker.stop().finally(() => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolveStopped();
    });
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      broker.logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    broker.logger.info({ signal }, "stopping: handing leadership away first");
    void stop().then(
      () => {
        if (settings.exitOnStop !== false) process.exit(0);
      },
      (err: unknown) => {
        broker.logger.error({ err }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  if (early) onSignal(early);
  return { broker, stopped, stop };
}

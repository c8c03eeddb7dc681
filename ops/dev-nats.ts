#!/usr/bin/env node
/**
 * The nats-server of `flotilla dev`, held by a small process of its own. `flotilla dev` starts this
 * in a new process group, so a Ctrl-C at the terminal (which signals the whole foreground group)
 * does not stop NATS under the brokers while they are still handing leadership away: `flotilla
 * dev` stops the brokers first, then this. When `flotilla dev` dies without stopping it (kill -9),
 * the stdin pipe closes and this stops nats-server too: nothing is orphaned.
 *
 * Prints one JSON line `{"url", "pid"}` once nats-server accepts connections.
 */
import { pino } from "pino";
import { MAX_PAYLOAD_CONFIG, startNatsServer } from "./nats-server.js";

async function main(): Promise<void> {
  const server = await startNatsServer({ config: `${MAX_PAYLOAD_CONFIG}\n`, logger: pino({ level: "warn" }, pino.destination(2)) });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ url: server.url, pid: server.pid })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`could not start nats-server: ${(e as Error)?.message ?? String(e)}\n`);
  process.exit(1);
});

#!/usr/bin/env node
/**
 * `node dist/broker/server/main.js --id N --dir DIR --controllers 1,2,3 [--nats URL] [--cluster NAME]
 * [--metrics-port P]`: a broker process without the `flotilla` command (tests spawn this; the CLI's
 * `flotilla broker` calls the same runBrokerProcess).
 */
import { runBrokerProcess } from "./process.js";

runBrokerProcess(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`flotilla broker: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(2);
});

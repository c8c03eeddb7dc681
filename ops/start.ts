#!/usr/bin/env node
/**
 * `npm start`: a local 3-broker cluster with its own nats-server (Debian's package is installed
 * when missing), then a short demo against it — create a topic, produce a few records, read them
 * back — and the addresses of everything, and it keeps running until Ctrl-C, which stops it all.
 */
import { Flotilla } from "../client/index.js";
import { DEMO_TOPIC, demoLines, runDemo } from "./demo.js";
import { DevCluster } from "./dev.js";

const say = (line = ""): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  let stopRequested!: () => void;
  const interrupted = new Promise<void>((resolve) => (stopRequested = resolve));
  let signals = 0;
  let cluster: DevCluster | undefined;
  const onSignal = (): void => {
    if (++signals > 1) {
      cluster?.kill();
      process.exit(1);
    }
    stopRequested();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  say("Flotilla: starting a local cluster (nats-server + 3 brokers)…");
  cluster = await DevCluster.start({ brokers: 3, cluster: "flotilla", say: (l) => say(l) });
  try {
    const ready = await Promise.race([cluster.waitReady(90_000), interrupted.then(() => undefined)]);
    if (ready) {
      say(`cluster up: controller leader is broker ${ready.controllerLeader}; ${ready.brokers.length} brokers registered`);
      say();
      for (const line of demoLines(await runDemo(new Flotilla({ servers: cluster.natsUrl, cluster: cluster.cluster, clientId: "flotilla-demo" })))) say(line);
      say();
      say(`NATS:     ${cluster.natsUrl}   (cluster "${cluster.cluster}")`);
      for (const b of cluster.brokers) say(`broker ${b.id}: metrics ${b.metricsUrl}   log ${b.log}`);
      say();
      say("Try, in another terminal:");
      say(`  npx flotilla topic describe ${DEMO_TOPIC} --nats ${cluster.natsUrl}`);
      say(`  echo hello | npx flotilla produce ${DEMO_TOPIC} --nats ${cluster.natsUrl}`);
      say(`  npx flotilla consume ${DEMO_TOPIC} --from-beginning --nats ${cluster.natsUrl}`);
      say(`  curl -s ${cluster.brokers[0].metricsUrl} | grep ^flotilla_ | head`);
      say();
      say("Running until Ctrl-C.");
      await interrupted;
    }
    say("stopping brokers and nats-server…");
    return 0;
  } catch (e) {
    process.stderr.write(`npm start: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  } finally {
    await cluster.stop();
    say("stopped.");
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`npm start: ${(e as Error)?.message ?? String(e)}\n`);
    process.exit(1);
  },
);

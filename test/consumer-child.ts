/**
 * A group consumer in a process of its own, for tests that kill it: `node consumer-child.js URL
 * CLUSTER GROUP TOPIC`. Prints one JSON line per record its handler finished
 * (`{"partition","offset","value"}`), written synchronously so a kill -9 loses none it printed,
 * and "joined" once it is a member. Auto-commits every 200 ms.
 */
import { writeSync } from "node:fs";
import { Flotilla } from "../client/index.js";

const [url, cluster, groupId, topic] = process.argv.slice(2);
const flotilla = new Flotilla({ servers: url, cluster, clientId: "child" });
const consumer = flotilla.consumer({ groupId, sessionTimeoutMs: 6000 });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await consumer.run({
  autoCommitIntervalMs: 200,
  eachMessage: async ({ partition, message }) => {
    writeSync(1, `${JSON.stringify({ partition, offset: String(message.offset), value: message.value?.toString() })}\n`);
  },
});
writeSync(1, "joined\n");

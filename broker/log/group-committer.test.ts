import { test } from "node:test";
import assert from "node:assert/strict";
import { openSync } from "node:fs";
import { join } from "node:path";
import { ManualSyncer, releaseUntil, settle, tempDir } from "../../test/log-fixtures.js";
import { FileRef } from "./file-ref.js";
import { GroupCommitter, ThreadPoolSyncer, type Syncer } from "./group-committer.js";

function files(dir: string, n: number): FileRef[] {
  return Array.from({ length: n }, (_, i) => {
    const path = join(dir, `f${i}`);
    return new FileRef(openSync(path, "w"), path);
  });
}

test("group committer - one cycle syncs every dirty file, spread over the pool, one fsync per file", async (t) => {
  const syncer = new ManualSyncer();
  const cycles: Array<{ files: number; requests: number }> = [];
  const committer = new GroupCommitter(syncer, { onCycle: (c) => cycles.push({ files: c.files, requests: c.requests }) });
  const fs = files(tempDir(t), 10);
  const done: number[] = [];
  // Three requests per file, all before the cycle starts.
  const all = Promise.all(fs.flatMap((f, i) => [0, 1, 2].map(() => new Promise<void>((resolve) => committer.sync(f, () => (done.push(i), resolve()))))));
  await releaseUntil(syncer, all);
  assert.deepEqual(cycles, [{ files: 10, requests: 30 }]);
  assert.equal(syncer.calls.length, 2, "the files are split over the pool's threads");
  assert.deepEqual(syncer.calls.flat().sort((a, b) => a - b), fs.map((f) => f.fd).sort((a, b) => a - b));
  await committer.close();
  for (const f of fs) await f.close();
});

test("group committer - a request made while a cycle runs gets its own fsync, delivered after the first", async (t) => {
  // A syncer whose calls the test completes one by one, in any order.
  const pending: Array<() => void> = [];
  const syncer: Syncer = {
    parallelism: 2,
    sync: () => new Promise((resolve) => pending.push(() => resolve([]))),
    close: async () => undefined,
  };
  const committer = new GroupCommitter(syncer);
  const [f] = files(tempDir(t), 1);
  const order: string[] = [];
  committer.sync(f, () => order.push("first"));
  while (pending.length < 1) await settle();
  committer.sync(f, () => order.push("second"));
  while (pending.length < 2) await settle();
  // The second cycle's fsync ends first; its waiter still comes after the first cycle's.
  pending[1]();
  await settle();
  assert.deepEqual(order, [], "a later cycle never delivers before an earlier one");
  pending[0]();
  await committer.idle();
  assert.deepEqual(order, ["first", "second"]);
  await committer.close();
  await f.close();
});

test("group committer - with one cycle at a time, a request made meanwhile waits for the running cycle", async (t) => {
  const syncer = new ManualSyncer();
  const committer = new GroupCommitter(syncer, { concurrentCycles: 1 });
  const [f] = files(tempDir(t), 1);
  const order: string[] = [];
  committer.sync(f, () => order.push("first"));
  while (syncer.pending === 0) await settle();
  committer.sync(f, () => order.push("second"));
  await settle();
  assert.equal(syncer.calls.length, 1, "no second fsync while the first runs");
  await releaseUntil(syncer, new Promise<void>((resolve) => committer.sync(f, () => resolve())));
  assert.deepEqual(order, ["first", "second"]);
  assert.equal(syncer.calls.length, 2);
  await committer.close();
  await f.close();
});

test("group committer - failures of a cycle are delivered before its successes", async (t) => {
  const calls: number[][] = [];
  const [good, bad] = files(tempDir(t), 2);
  const committer = new GroupCommitter({
    parallelism: 2,
    sync: async (fds) => {
      calls.push(fds);
      return fds.includes(bad.fd) ? [{ fd: bad.fd, code: "EIO", message: "EIO: injected" }] : [];
    },
    close: async () => undefined,
  });
  const events: string[] = [];
  await new Promise<void>((resolve) => {
    committer.sync(good, (err) => events.push(err ? "good failed" : "good ok"));
    committer.sync(bad, (err) => {
      events.push(err ? `bad ${(err as NodeJS.ErrnoException).code}` : "bad ok");
      resolve();
    });
  });
  await committer.idle();
  assert.deepEqual(events, ["bad EIO", "good ok"]);
  await committer.close();
  await good.close();
  await bad.close();
});

test("group committer - the thread-pool syncer really fdatasyncs, and reports a bad fd per fd", async (t) => {
  const syncer = new ThreadPoolSyncer({ threads: 2 });
  const fs = files(tempDir(t), 3);
  assert.deepEqual(await syncer.sync(fs.map((f) => f.fd)), []);
  const failures = await syncer.sync([987654]);
  assert.equal(failures[0].code, "EBADF");
  await syncer.close();
  for (const f of fs) await f.close();
});

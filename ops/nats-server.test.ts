import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import {
  SECURE_CONFIG_FILE,
  cleanup,
  ensureNatsServer,
  findNatsServer,
  installNatsServer,
  renderSecureConfig,
  setup,
  startNatsServer,
} from "./nats-server.js";

const testLogger = pino({ level: "silent" });

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("nats-server - process", () => {
  it("finds the binary, installing Debian's package when it is missing", async () => {
    const path = await ensureNatsServer();
    assert.equal(await findNatsServer(), path);
    assert.match(spawnSync(path, ["--version"], { encoding: "utf8" }).stdout, /nats-server: v2\./);
  });

  it("starts on a free loopback port, answers NATS, and stops (idempotently)", async () => {
    const [a, b] = await Promise.all([setup(), setup()]);
    try {
      assert.notEqual(a.port, b.port);
      assert.equal(a.url, `nats://127.0.0.1:${a.port}`);
      assert.ok(await accepts(a.port));
    } finally {
      await cleanup(a, b);
    }
    await a.stop();
    assert.ok(!isRunning(a.pid));
    assert.ok(!(await accepts(a.port)));
  });

  it("runs JetStream with its store in the directory given", async () => {
    const dir = await mkdtemp(join(tmpdir(), "flotilla-js-store-"));
    const server = await setup({ jetstream: true, storeDir: dir });
    try {
      assert.ok(existsSync(join(dir, "jetstream")));
    } finally {
      await cleanup(server);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a config the server rejects fails the start with the server's own words", async () => {
    await assert.rejects(setup({ config: "max_payload: {\n" }), (e: Error) => /nats-server .*exited/.test(e.message) && /nats\.conf/.test(e.message));
  });

  it("refuses passwords nats-server would not read as strings", async () => {
    await assert.rejects(startNatsServer({ secure: { passwords: { broker: "12e4abcd", client: "true" } } }), (e: Error) => {
      assert.match(e.message, /broker password must start with a letter/);
      assert.match(e.message, /client password must not be a boolean word/);
      return true;
    });
  });

  it("reports every option problem at once", async () => {
    await assert.rejects(startNatsServer({ config: "", configFile: "/x", storeDir: "/y", port: 70000 }), (e: Error) => {
      assert.match(e.message, /at most one of configFile, config and secure/);
      assert.match(e.message, /storeDir needs jetstream/);
      assert.match(e.message, /port must be 1\.\.65535/);
      return true;
    });
  });

  it("refuses to install without root and says what to do", async () => {
    // As `nobody` (uid 65534) it must stop before touching apt and explain. (Running a child as
    // nobody would also need the checkout to be readable by others, which a mktemp clone is not.)
    await assert.rejects(installNatsServer(testLogger, 65534), (e: Error) => {
      assert.match(e.message, /needs root.*apt-get install -y nats-server/s);
      return true;
    });
  });
});

describe("nats-server - shipped config", () => {
  it("ops/nats/flotilla.conf is what renderSecureConfig() renders for the default cluster", async () => {
    assert.equal(await readFile(SECURE_CONFIG_FILE, "utf8"), renderSecureConfig());
  });

  it("keeps passwords out of the file and denies clients the broker-only subjects", () => {
    const text = renderSecureConfig("blue");
    assert.match(text, /password: \$FLOTILLA_NATS_BROKER_PASSWORD/);
    assert.match(text, /password: \$FLOTILLA_NATS_CLIENT_PASSWORD/);
    assert.match(text, /deny: \["flotilla\.blue\.raft\.>", "flotilla\.blue\.controller", "flotilla\.blue\.faults\.>"\]/);
  });

  it("nats-server accepts the shipped file", async () => {
    const path = await ensureNatsServer();
    const r = spawnSync(path, ["-c", SECURE_CONFIG_FILE, "-t"], {
      encoding: "utf8",
      env: { ...process.env, FLOTILLA_NATS_BROKER_PASSWORD: "b", FLOTILLA_NATS_CLIENT_PASSWORD: "c" },
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });
});

/**
 * The core against a real `swapd serve` (two tiers on the tiny model, and a companion on a copy of it whose
 * metadata declares FIM tokens, made by the repository's tests/fim_model.py), checking the contract in
 * docs/architecture.md from the extension's side: chat on another tier swaps and reports `X-Swapd-Tier`,
 * `/props?model=` and `/tokenize` pass through, keys are enforced, the control API's event stream carries the
 * swap, and fill-in-the-middle goes to the companion without a swap. Skipped where `make setup` has not built
 * llama-server.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Unauthorized } from "../../src/core/errors.js";
import { Llm } from "../../src/core/llm.js";
import { type ControlEvent, SwapdControl } from "../../src/core/swapd.js";
import { Transport } from "../../src/core/transport.js";
import { tempDir } from "../support/tempdir.js";

const venv = path.resolve(__dirname, "../../../.venv");
const available = fs.existsSync(path.join(venv, ".llama-stamp")) && fs.existsSync(path.join(venv, "bin", "python"));
const API_KEY = "swapd-api-key";
const ADMIN = "swapd-admin-token";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

describe.skipIf(!available)("against a real swapd (two tiers on the tiny model)", () => {
  let dir: string;
  let child: ChildProcess;
  let url: string;
  const credentials = (token: string, label = "API key") => ({ label, setCommand: "x", token: async () => token });
  const llm = (key = API_KEY): Llm => new Llm(new Transport({ baseUrl: url, credentials: credentials(key), idleTimeoutMs: 120_000 }));
  const control = (idleTimeoutMs = 30_000): SwapdControl => new SwapdControl(new Transport({ baseUrl: url, credentials: credentials(ADMIN, "admin token"), idleTimeoutMs }));

  /** The companion's own state, from /v1/models (it answers 503 until its llama-server is up). */
  const companionReady = async (): Promise<boolean> => {
    const reply = await fetch(`${url}/v1/models`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    const models = (await reply.json()) as { data: { id: string; state: string }[] };
    return models.data.some((m) => m.id === "fim" && m.state === "ready");
  };

  beforeAll(async () => {
    dir = await tempDir("variet-swapd-");
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    await fsp.writeFile(path.join(dir, "api-key"), API_KEY, { mode: 0o600 });
    await fsp.writeFile(path.join(dir, "admin-token"), ADMIN, { mode: 0o600 });
    const fimModel = path.join(dir, "tiny-fim.gguf");
    execFileSync(path.join(venv, "bin", "python"), [path.resolve(__dirname, "../../../tests/fim_model.py"), fimModel], { stdio: "ignore" });
    const tier = (name: string, template: string): string =>
      `[[tiers]]\nname = "${name}"\nmodel = "bundled:tiny"\nctx_size = 2048\nparallel = 1\nchat_template_file = "bundled:${template}"\nargs = ["--threads", "2", "--no-webui"]\nload_timeout_s = 60\n`;
    await fsp.writeFile(
      path.join(dir, "swapd.toml"),
      [
        `listen = "127.0.0.1"`,
        `port = ${port}`,
        `api_key_files = ["${path.join(dir, "api-key")}"]`,
        `admin_token_file = "${path.join(dir, "admin-token")}"`,
        `control_socket = "${path.join(dir, "control.sock")}"`,
        `state_dir = "${path.join(dir, "state")}"`,
        `llama_server = "bundled"`,
        `default_tier = "fast"`,
        `drain_grace_s = 2`,
        `[gpu]\nbackend = "none"`,
        tier("fast", "google-gemma-4-31B-it"),
        tier("balanced", "Qwen3.5-4B"),
        `[[companions]]\nname = "fim"\nmodel = "${fimModel}"\nctx_size = 1024\nargs = ["--threads", "1", "--no-webui"]\nload_timeout_s = 60\n`,
      ].join("\n"),
    );
    child = spawn(path.join(venv, "bin", "python"), ["-m", "swapd", "serve", "--config", path.join(dir, "swapd.toml")], { stdio: "ignore", detached: true });
    // Outside readiness: poll the control API until the default tier is ready, failing early if swapd dies.
    const end = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`swapd exited with ${child.exitCode}`);
      const status = await control().status(AbortSignal.timeout(2000)).catch(() => undefined);
      if (status?.state === "ready" && (await companionReady().catch(() => false))) break;
      if (Date.now() > end) throw new Error("swapd's default tier was not ready in time");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }, 120_000);

  afterAll(async () => {
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid, "SIGTERM");
      await exited;
    }
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("a chat on another tier swaps, and the event stream shows it", async () => {
    const events: ControlEvent[] = [];
    const stop = new AbortController();
    let swapped!: () => void;
    const swapSeen = new Promise<void>((resolve) => (swapped = resolve));
    const following = control(0)
      .follow(stop.signal, (event) => {
        events.push(event);
        if (event.type === "swap" && event.data.to === "balanced") swapped();
      })
      .catch(() => undefined);
    const signal = new AbortController().signal;
    const client = llm();
    expect(await client.contextSize("balanced", signal)).toBe(2048);
    expect(await client.countTokens("balanced", "hello world", signal)).toBeGreaterThan(0);
    const result = await client.chat({ tier: "balanced", messages: [{ role: "user", content: "hi" }], maxTokens: 4 }, signal, () => undefined);
    expect(result.servedBy).toBe("balanced");
    await swapSeen;
    stop.abort();
    await following;
    expect(events).toContainEqual({ type: "swap", data: expect.objectContaining({ from: "fast", to: "balanced", ok: true }) });
    expect(events.some((e) => e.type === "state" && e.data.tier === "balanced" && e.data.state === "ready")).toBe(true);
    expect(await control().status(signal)).toEqual({ tier: "balanced", state: "ready" });
  }, 120_000);

  it("fill-in-the-middle goes to the companion on the real /infill path and never swaps", async () => {
    const signal = new AbortController().signal;
    const client = llm();
    expect(await client.companionModels(signal)).toEqual(new Set(["fim"]));
    const before = await control().status(signal);
    const middle = await client.infill({ model: "fim", prefix: "def add(a, b):\n    return ", suffix: "\n\nprint(add(1, 2))\n", maxTokens: 4 }, signal);
    expect(typeof middle).toBe("string");
    await expect(client.infill({ model: "auto", prefix: "x = ", suffix: "", maxTokens: 4 }, signal)).rejects.toMatchObject({
      status: 501,
      message: expect.stringContaining("Infill is not supported by this model"),
    });
    expect(await control().status(signal)).toEqual(before);
  }, 120_000);

  it("a wrong API key or admin token is refused with the fix named", async () => {
    const signal = new AbortController().signal;
    await expect(llm("wrong").chat({ tier: "balanced", messages: [{ role: "user", content: "hi" }] }, signal, () => undefined)).rejects.toThrow(
      new Unauthorized('swapd rejected the API key (401); run "x"'),
    );
    const badControl = new SwapdControl(new Transport({ baseUrl: url, credentials: credentials("nope", "admin token"), idleTimeoutMs: 5000 }));
    await expect(badControl.tiers(signal)).rejects.toBeInstanceOf(Unauthorized);
    expect((await control().tiers(signal)).map((t) => t.name)).toEqual(["fast", "balanced"]);
  }, 60_000);
});

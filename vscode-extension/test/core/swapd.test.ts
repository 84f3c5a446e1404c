import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { Unauthorized } from "../../src/core/errors.js";
import { type ControlEvent, SwapdControl, describeState, parseControlEvent } from "../../src/core/swapd.js";
import { Transport } from "../../src/core/transport.js";
import { FakeSwapd, json } from "../support/fakeServer.js";

let server: FakeSwapd;
const control = (token = "admin-token", idleTimeoutMs = 5000): SwapdControl =>
  new SwapdControl(new Transport({ baseUrl: server.url, credentials: { label: "admin token", setCommand: "Variet: Set Admin Token", token: async () => token }, idleTimeoutMs }));

beforeEach(async () => {
  server = new FakeSwapd("admin-token");
  await server.start();
});
afterEach(async () => {
  await server.close();
});

describe("swapd control client", () => {
  it("swaps with the admin token and the contract's body", async () => {
    server.on("/swapd/swap", (_req, res) => json(res, 202, { tier: "deep", state: "starting" }));
    expect(await control().swap("deep", new AbortController().signal)).toEqual({ tier: "deep", state: "starting" });
    expect(server.requests[0]).toMatchObject({ method: "POST", path: "/swapd/swap", authorization: "Bearer admin-token", body: { tier: "deep", force: false } });
  });

  it("lists tiers and reads status", async () => {
    server.on("/swapd/tiers", (_req, res) => json(res, 200, [{ name: "fast", aliases: [], state: "stopped", ctx_size: 8192, vram_mib: 1 }, { bogus: true }]));
    server.on("/swapd/status", (_req, res) => json(res, 200, { tier: "balanced", state: "ready", pinned: null, uptime_s: 3 }));
    expect(await control().tiers(new AbortController().signal)).toEqual([{ name: "fast", state: "stopped", ctxSize: 8192 }]);
    expect(await control().status(new AbortController().signal)).toEqual({ tier: "balanced", state: "ready" });
  });

  it("a wrong admin token names the command to fix it", async () => {
    await expect(control("nope").status(new AbortController().signal)).rejects.toThrow(new Unauthorized('swapd rejected the admin token (401); run "Variet: Set Admin Token"'));
  });

  it("follows the event stream; a quiet stream with the watchdog off is fine", async () => {
    server.on("/swapd/events", (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      res.write(': hello\n\nevent: state\ndata: {"tier":"deep","state":"starting","phase":"load","progress":0.4,"message":null}\n\n');
      res.write('event: unknown\ndata: {}\n\nevent: swap\ndata: {"from":"balanced","to":"deep","took_s":41.2,"phases":{},"ok":true,"error":null}\n\n');
      res.end();
    });
    const seen: ControlEvent[] = [];
    await control("admin-token", 0).follow(new AbortController().signal, (e) => seen.push(e));
    expect(seen).toEqual([
      { type: "state", data: { tier: "deep", state: "starting", phase: "load", progress: 0.4, message: null } },
      { type: "swap", data: { from: "balanced", to: "deep", took_s: 41.2, ok: true, error: null } },
    ]);
  });

  it("describes states as the status bar shows them", () => {
    expect(describeState({ tier: "deep", state: "starting", progress: 0.4 })).toBe("deep loading 40%");
    expect(describeState({ tier: "balanced", state: "ready", progress: 1 })).toBe("balanced ready");
    expect(describeState({ tier: null, state: "stopped", progress: null })).toBe("no tier stopped");
    expect(parseControlEvent("state", "not json")).toBeUndefined();
  });
});

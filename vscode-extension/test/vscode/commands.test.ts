import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { SwapdControl } from "../../src/core/swapd.js";
import { Transport } from "../../src/core/transport.js";
import { registerCommands, switchTier } from "../../src/vscode/commands.js";
import { ADMIN_TOKEN_SECRET, API_KEY_SECRET } from "../../src/vscode/settings.js";
import { FakeSwapd, json } from "../support/fakeServer.js";
import { MemorySecrets } from "../support/secrets.js";
import { mock } from "../support/vscodeMock.js";

let server: FakeSwapd;
let secrets: MemorySecrets;

const control = (): SwapdControl =>
  new SwapdControl(
    new Transport({ baseUrl: server.url, credentials: { label: "admin token", setCommand: "Variet: Set Admin Token", token: async () => secrets.get(ADMIN_TOKEN_SECRET) }, idleTimeoutMs: 5000 }),
  );

beforeEach(async () => {
  mock.reset();
  server = new FakeSwapd("admin-token");
  await server.start();
  secrets = new MemorySecrets();
});
afterEach(async () => {
  await server.close();
});

describe("Variet: Switch Tier", () => {
  it("offers swapd's tiers and posts the swap with the admin token", async () => {
    await secrets.store(ADMIN_TOKEN_SECRET, "admin-token");
    server.on("/swapd/tiers", (_req, res) =>
      json(res, 200, [
        { name: "fast", aliases: [], state: "stopped", ctx_size: 8192, vram_mib: 1 },
        { name: "deep", aliases: [], state: "stopped", ctx_size: 65536, vram_mib: 1 },
      ]),
    );
    server.on("/swapd/swap", (_req, res) => json(res, 202, { tier: "deep", state: "starting" }));
    mock.answer("showQuickPick", (items: unknown) => (items as { tier: string }[]).find((i) => i.tier === "deep"));
    await switchTier({ control, secrets });
    const offered = mock.callsTo("showQuickPick")[0]?.[0] as { label: string; description: string }[];
    expect(offered.map((i) => [i.label, i.description])).toEqual([
      ["fast", "stopped"],
      ["deep", "stopped"],
    ]);
    const swap = server.requests.find((r) => r.path === "/swapd/swap");
    expect(swap).toMatchObject({ method: "POST", authorization: "Bearer admin-token", body: { tier: "deep", force: false } });
  });

  it("without an admin token it offers to set one and calls nothing", async () => {
    mock.answer("showErrorMessage", undefined);
    await switchTier({ control, secrets });
    expect(mock.callsTo("showErrorMessage")[0]?.[0]).toBe("Switching tiers needs swapd's admin token.");
    expect(server.requests).toEqual([]);
  });

  it("a wrong admin token is a clear error", async () => {
    await secrets.store(ADMIN_TOKEN_SECRET, "wrong");
    await switchTier({ control, secrets });
    expect(mock.callsTo("showErrorMessage")[0]?.[0]).toBe('Variet: swapd rejected the admin token (401); run "Variet: Set Admin Token"');
    expect(mock.callsTo("showQuickPick")).toEqual([]);
  });

  it("swapd unreachable is a clear error", async () => {
    await secrets.store(ADMIN_TOKEN_SECRET, "admin-token");
    await server.close();
    await switchTier({ control, secrets });
    expect(mock.callsTo("showErrorMessage")[0]?.[0]).toMatch(/^Variet: cannot reach swapd at .* \(ECONNREFUSED\)/);
    server = new FakeSwapd();
    await server.start();
  });
});

describe("secrets commands", () => {
  it("store the API key and admin token in SecretStorage, and empty removes", async () => {
    let changes = 0;
    registerCommands({ secrets, control, onSecretsChanged: () => changes++, newChat: () => undefined, stop: () => undefined });
    mock.answer("showInputBox", "  key-123  ", "tok", "");
    await mock.commands.get("variet.setApiKey")?.();
    await mock.commands.get("variet.setAdminToken")?.();
    expect(secrets.values.get(API_KEY_SECRET)).toBe("key-123");
    expect(secrets.values.get(ADMIN_TOKEN_SECRET)).toBe("tok");
    expect((mock.callsTo("showInputBox")[0]?.[0] as { password: boolean }).password).toBe(true);
    await mock.commands.get("variet.setApiKey")?.();
    expect(secrets.values.has(API_KEY_SECRET)).toBe(false);
    expect(changes).toBe(3);
  });
});

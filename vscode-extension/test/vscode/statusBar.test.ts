import { beforeEach, describe, expect, it } from "vitest";

import { ServerUnreachable } from "../../src/core/errors.js";
import type { ControlEvent, SwapdControl } from "../../src/core/swapd.js";
import { TierStatusBar } from "../../src/vscode/statusBar.js";
import { mock } from "../support/vscodeMock.js";

beforeEach(() => mock.reset());

/** A control client whose event stream is the given events, then stays open until aborted. */
function scriptedControl(events: ControlEvent[], reached: () => void, failWith?: Error): SwapdControl {
  return {
    status: async () => {
      if (failWith) {
        reached();
        throw failWith;
      }
      return { tier: "balanced", state: "ready" };
    },
    follow: async (signal: AbortSignal, onEvent: (e: ControlEvent) => void) => {
      for (const event of events) onEvent(event);
      reached();
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
  } as unknown as SwapdControl;
}

function nextText(bar: TierStatusBar, predicate: (text: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    const subscription = bar.onDidChange((text) => {
      if (!predicate(text)) return;
      subscription.dispose();
      resolve(text);
    });
  });
}

describe("tier status bar", () => {
  it("shows swapd's live state from the event stream", async () => {
    let reached!: () => void;
    const followed = new Promise<void>((resolve) => (reached = resolve));
    const bar = new TierStatusBar({
      hasAdminToken: async () => true,
      control: () => scriptedControl([{ type: "state", data: { tier: "deep", state: "starting", phase: "load", progress: 0.4, message: null } }], reached),
    });
    bar.start();
    await followed;
    const item = mock.statusBarItems[0];
    expect(item?.text).toBe("$(sync~spin) deep loading 40%");
    expect(item?.command).toBe("variet.switchTier");
    expect(bar.activeReadyTier).toBeUndefined();
    bar.apply({ type: "state", data: { tier: "deep", state: "ready", phase: null, progress: 1, message: null } });
    expect(item?.text).toBe("$(server) deep ready");
    expect(bar.activeReadyTier).toBe("deep");
    bar.apply({ type: "swap", data: { from: "deep", to: "fast", took_s: 3, ok: false, error: "out of VRAM" } });
    expect(item?.text).toBe("$(error) swap to fast failed");
    expect(item?.tooltip).toBe("out of VRAM");
    bar.dispose();
  });

  it("says when swapd is unreachable", async () => {
    const bar = new TierStatusBar({
      hasAdminToken: async () => true,
      control: () => scriptedControl([], () => undefined, new ServerUnreachable("cannot reach swapd at http://x (ECONNREFUSED)")),
    });
    const failed = nextText(bar, (text) => text.includes("unreachable"));
    bar.start();
    await failed;
    expect(mock.statusBarItems[0]?.text).toBe("$(debug-disconnect) swapd unreachable");
    expect(mock.statusBarItems[0]?.tooltip).toContain("ECONNREFUSED");
    bar.dispose();
  });

  it("without an admin token it asks for one and shows the tier that served", async () => {
    const bar = new TierStatusBar({
      hasAdminToken: async () => false,
      control: () => {
        throw new Error("not used");
      },
    });
    const asked = nextText(bar, () => mock.statusBarItems[0]?.tooltip?.includes("Admin Token") === true);
    bar.start();
    await asked;
    expect(mock.statusBarItems[0]?.tooltip).toContain("Variet: Set Admin Token");
    bar.noteServedBy("balanced");
    expect(mock.statusBarItems[0]?.text).toBe("$(server) balanced");
    bar.dispose();
  });
});

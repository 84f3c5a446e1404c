/** The status bar item: the active tier and swapd's state, live from the control event stream ("deep loading 40%"). */
import * as vscode from "vscode";

import { Aborted, Unauthorized, VarietError } from "../core/errors.js";
import { type ControlEvent, type SwapdControl, describeState } from "../core/swapd.js";

/** Wait before reconnecting after the stream fails; doubles up to the cap. */
const RECONNECT_MS = 2000;
const RECONNECT_CAP_MS = 60_000;

export interface StatusSource {
  control(streaming: boolean): SwapdControl;
  hasAdminToken(): Promise<boolean>;
}

export class TierStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly changed = new vscode.EventEmitter<string>();
  /** Fires with the new text whenever the item changes. */
  readonly onDidChange = this.changed.event;
  private readonly stopped = new AbortController();
  private connection = new AbortController();
  private loopDone: Promise<void> | undefined;
  /** The tier swapd reports as active and ready, or undefined when unknown or busy. */
  activeReadyTier: string | undefined;

  constructor(private readonly source: StatusSource) {
    this.item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 100);
    this.item.command = "variet.switchTier";
    this.item.name = "Variet tier";
    this.show("$(server) Variet", "Connecting to swapd…");
    this.item.show();
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  /** Reconnect now (settings or admin token changed). */
  restart(): void {
    this.connection.abort();
  }

  /** The tier that served an agent request (`X-Swapd-Tier`), shown when there is no admin token for live status. */
  noteServedBy(tier: string): void {
    if (this.activeReadyTier === undefined && this.item.text.includes("Variet")) this.show(`$(server) ${tier}`, `Last answer came from the ${tier} tier`);
  }

  dispose(): void {
    this.stopped.abort();
    this.connection.abort();
    this.item.dispose();
    this.changed.dispose();
  }

  /** What the event stream says, applied to the item. Public for tests. */
  apply(event: ControlEvent): void {
    if (event.type === "state") {
      const { state } = event.data;
      this.activeReadyTier = state === "ready" && event.data.tier ? event.data.tier : undefined;
      const icon = state === "ready" ? "$(server)" : state === "failed" ? "$(error)" : "$(sync~spin)";
      const tooltip = [describeState(event.data), event.data.phase ? `phase: ${event.data.phase}` : "", event.data.message ?? ""].filter(Boolean).join("\n");
      this.show(`${icon} ${describeState(event.data)}`, `${tooltip}\nClick to switch tier`);
      this.item.backgroundColor = state === "failed" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
    } else if (!event.data.ok) {
      this.show(`$(error) swap to ${event.data.to} failed`, event.data.error ?? "swap failed");
      this.item.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
    }
  }

  private show(text: string, tooltip: string): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.changed.fire(text);
  }

  private async loop(): Promise<void> {
    let backoff = RECONNECT_MS;
    while (!this.stopped.signal.aborted) {
      this.connection = new AbortController();
      const signal = AbortSignal.any([this.stopped.signal, this.connection.signal]);
      try {
        if (!(await this.source.hasAdminToken())) {
          this.activeReadyTier = undefined;
          this.show("$(server) Variet", 'Set an admin token ("Variet: Set Admin Token") to see the live tier');
          await waitForAbort(signal);
          continue;
        }
        const control = this.source.control(true);
        const status = await control.status(signal);
        this.apply({ type: "state", data: { tier: status.tier, state: status.state, phase: null, progress: null, message: null } });
        backoff = RECONNECT_MS;
        await control.follow(signal, (event) => this.apply(event));
      } catch (error) {
        if (error instanceof Aborted || signal.aborted) continue;
        this.activeReadyTier = undefined;
        const message = error instanceof VarietError ? error.message : String(error);
        this.show(error instanceof Unauthorized ? "$(lock) Variet: admin token rejected" : "$(debug-disconnect) swapd unreachable", message);
      }
      await delay(backoff, signal);
      backoff = Math.min(backoff * 2, RECONNECT_CAP_MS);
    }
  }
}

function waitForAbort(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

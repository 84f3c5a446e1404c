/**
 * A client of swapd's control API (docs/architecture.md, "swapd's control API") over the LAN port with the admin
 * token: status, tiers, swap, and the live `GET /swapd/events` stream.
 */
import { Aborted, ServerError } from "./errors.js";
import { SseParser } from "./sse.js";
import { Transport } from "./transport.js";

export const TIERS = ["fast", "balanced", "deep"] as const;

export interface StateEvent {
  readonly tier: string | null;
  /** One of stopped, starting, ready, draining, stopping, failed (kept as text: newer swapds may add states). */
  readonly state: string;
  readonly phase: string | null;
  readonly progress: number | null;
  readonly message: string | null;
}

export interface SwapEvent {
  readonly from: string | null;
  readonly to: string;
  readonly took_s: number | null;
  readonly ok: boolean;
  readonly error: string | null;
}

export type ControlEvent = { readonly type: "state"; readonly data: StateEvent } | { readonly type: "swap"; readonly data: SwapEvent };

export interface TierInfo {
  readonly name: string;
  readonly state: string;
  readonly ctxSize: number | null;
}

export interface Status {
  readonly tier: string | null;
  readonly state: string;
}

function field<T>(value: unknown, key: string, check: (v: unknown) => v is T): T | undefined {
  if (!value || typeof value !== "object") return undefined;
  const v = (value as Record<string, unknown>)[key];
  return check(v) ? v : undefined;
}
const isString = (v: unknown): v is string => typeof v === "string";
const isNumber = (v: unknown): v is number => typeof v === "number";
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";

export function parseControlEvent(type: string, data: string): ControlEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (type === "state") {
    return {
      type: "state",
      data: {
        tier: field(json, "tier", isString) ?? null,
        state: field(json, "state", isString) ?? "unknown",
        phase: field(json, "phase", isString) ?? null,
        progress: field(json, "progress", isNumber) ?? null,
        message: field(json, "message", isString) ?? null,
      },
    };
  }
  if (type === "swap") {
    return {
      type: "swap",
      data: {
        from: field(json, "from", isString) ?? null,
        to: field(json, "to", isString) ?? "",
        took_s: field(json, "took_s", isNumber) ?? null,
        ok: field(json, "ok", isBoolean) ?? false,
        error: field(json, "error", isString) ?? null,
      },
    };
  }
  return undefined;
}

const STATE_WORDS: Record<string, string> = {
  starting: "loading",
  draining: "draining",
  stopping: "stopping",
  stopped: "stopped",
  failed: "failed",
  ready: "ready",
};

/** "deep loading 40%", "balanced ready", "deep failed": what a front end shows for a state event. */
export function describeState(event: Pick<StateEvent, "tier" | "state" | "progress">): string {
  const tier = event.tier ?? "no tier";
  const word = STATE_WORDS[event.state] ?? event.state;
  const percent = event.progress !== null && event.state !== "ready" ? ` ${Math.round(event.progress * 100)}%` : "";
  return `${tier} ${word}${percent}`;
}

export class SwapdControl {
  constructor(private readonly transport: Transport) {}

  async status(signal: AbortSignal): Promise<Status> {
    const json = await this.transport.json("/swapd/status", { method: "GET", signal });
    return { tier: field(json, "tier", isString) ?? null, state: field(json, "state", isString) ?? "unknown" };
  }

  async tiers(signal: AbortSignal): Promise<TierInfo[]> {
    const json = await this.transport.json("/swapd/tiers", { method: "GET", signal });
    if (!Array.isArray(json)) throw new ServerError("swapd's /swapd/tiers did not answer a list", 200);
    return json.flatMap((entry) => {
      const name = field(entry, "name", isString);
      return name ? [{ name, state: field(entry, "state", isString) ?? "unknown", ctxSize: field(entry, "ctx_size", isNumber) ?? null }] : [];
    });
  }

  async swap(tier: string, signal: AbortSignal): Promise<Status> {
    const json = await this.transport.json("/swapd/swap", { method: "POST", body: { tier, force: false }, signal });
    return { tier: field(json, "tier", isString) ?? tier, state: field(json, "state", isString) ?? "unknown" };
  }

  /** Follow the event stream until it ends or `signal` aborts; unknown event types are skipped. */
  async follow(signal: AbortSignal, onEvent: (event: ControlEvent) => void): Promise<void> {
    const open = await this.transport.open("/swapd/events", { method: "GET", signal, accept: "text/event-stream" });
    if (!open.response.ok) throw await this.transport.failure(open);
    const parser = new SseParser();
    try {
      for await (const chunk of open.chunks) {
        for (const raw of parser.push(chunk)) {
          const event = parseControlEvent(raw.event, raw.data);
          if (event) onEvent(event);
        }
      }
    } catch (error) {
      if (signal.aborted) throw new Aborted();
      throw error;
    }
  }
}

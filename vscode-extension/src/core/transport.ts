/**
 * HTTP to swapd: bearer auth, the idle-stream watchdog and the translation of fetch failures and error envelopes
 * into our errors. There is no overall timeout: a long prefill on a big tier is fine as long as bytes keep coming
 * or the server is still within the idle limit.
 */
import { Aborted, ServerError, ServerUnreachable, StreamStalled, Unauthorized } from "./errors.js";

export type Fetch = typeof fetch;

export interface Credentials {
  /** What the token is, for messages: "API key" or "admin token". */
  readonly label: string;
  /** The command that sets it, for messages. */
  readonly setCommand: string;
  readonly token: () => Promise<string | undefined>;
}

export interface TransportOptions {
  readonly baseUrl: string;
  readonly credentials: Credentials;
  readonly idleTimeoutMs: number;
  readonly fetch?: Fetch;
}

export interface OpenResponse {
  readonly response: Response;
  /** The body, chunk by chunk, each wait guarded by the watchdog. */
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** Failures of a connection the server closed, as opposed to one that could not be made (ECONNREFUSED). */
const CLOSED_UNDER_US = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);

function describeCause(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    if ("code" in current && typeof current.code === "string") return current.code;
    current = current.cause;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The `error.message` of an OpenAI-style envelope (swapd's and llama-server's), or the raw text. */
export function envelopeMessage(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object" && "error" in parsed) {
      const error = parsed.error;
      if (typeof error === "string") return error;
      if (error && typeof error === "object" && "message" in error && typeof error.message === "string") return error.message;
    }
  } catch {
    // Not JSON: use the text.
  }
  return body.trim().slice(0, 300) || "no details";
}

export class Transport {
  private readonly fetchImpl: Fetch;
  readonly baseUrl: string;

  constructor(private readonly options: TransportOptions) {
    this.fetchImpl = options.fetch ?? fetch;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
  }

  /**
   * Send a request and return the response whatever its status, with the body behind the watchdog.
   * Network failures, the watchdog and the caller's abort become our errors.
   */
  async open(path: string, init: { method: string; body?: unknown; signal: AbortSignal; accept?: string }): Promise<OpenResponse> {
    if (init.signal.aborted) throw new Aborted();
    const controller = new AbortController();
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const idleMs = this.options.idleTimeoutMs;
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      // 0 turns the watchdog off, for streams that are quiet by design (swapd's event stream).
      if (idleMs <= 0) return;
      timer = setTimeout(() => {
        stalled = true;
        controller.abort();
      }, idleMs);
    };
    const disarm = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    const onAbort = (): void => controller.abort();
    init.signal.addEventListener("abort", onAbort, { once: true });
    const cleanup = (): void => {
      disarm();
      init.signal.removeEventListener("abort", onAbort);
    };
    const translate = (error: unknown): Error => {
      if (init.signal.aborted) return new Aborted();
      if (stalled) {
        return new StreamStalled(
          `no data from swapd for ${Math.round(idleMs / 1000)} s; the server may be stuck (raise variet.idleTimeoutSeconds for very long prompts)`,
        );
      }
      if (error instanceof Aborted || error instanceof StreamStalled) return error;
      return new ServerUnreachable(`cannot reach swapd at ${this.baseUrl} (${describeCause(error)}); check variet.serverUrl and that swapd is running`);
    };

    const token = await this.options.credentials.token();
    const headers: Record<string, string> = { Accept: init.accept ?? "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";

    const send = (): Promise<Response> =>
      this.fetchImpl(`${this.baseUrl}${path}`, {
        method: init.method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: controller.signal,
      });
    let response: Response;
    arm();
    try {
      // A kept-alive connection that the server closed just as it was reused (llama-server closes one
      // after every stream; uvicorn after 5 s idle) fails before any answer: send once more, on a new one.
      response = await send().catch((error: unknown) => {
        if (controller.signal.aborted || !CLOSED_UNDER_US.has(describeCause(error))) throw error;
        return send();
      });
    } catch (error) {
      cleanup();
      throw translate(error);
    }
    arm();
    const body = response.body;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      if (!body) {
        cleanup();
        return;
      }
      const reader = body.getReader();
      try {
        for (;;) {
          let result: ReadableStreamReadResult<Uint8Array>;
          try {
            result = await reader.read();
          } catch (error) {
            throw translate(error);
          }
          if (result.done) return;
          arm();
          yield result.value;
        }
      } finally {
        cleanup();
        controller.abort();
        reader.releaseLock();
      }
    }
    return { response, chunks: chunks() };
  }

  /** Read a whole body as text (still under the watchdog). */
  static async text(open: OpenResponse): Promise<string> {
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of open.chunks) text += decoder.decode(chunk, { stream: true });
    return text + decoder.decode();
  }

  /** Turn a non-2xx answer into our error, naming the credential to fix on 401. */
  async failure(open: OpenResponse): Promise<Error> {
    const status = open.response.status;
    const body = await Transport.text(open).catch(() => "");
    if (status === 401 || status === 403) {
      return new Unauthorized(
        `swapd rejected the ${this.options.credentials.label} (${status}); run "${this.options.credentials.setCommand}"`,
      );
    }
    return new ServerError(`swapd answered ${status}: ${envelopeMessage(body)}`, status);
  }

  /** A JSON request that must succeed. */
  async json(path: string, init: { method: string; body?: unknown; signal: AbortSignal }): Promise<unknown> {
    const open = await this.open(path, init);
    if (!open.response.ok) throw await this.failure(open);
    const text = await Transport.text(open);
    try {
      return text ? (JSON.parse(text) as unknown) : null;
    } catch {
      throw new ServerError(`swapd answered ${path} with something that is not JSON`, open.response.status);
    }
  }
}

/**
 * MCP tool servers in the editor: started over stdio with the official TypeScript SDK, their tools offered to the
 * model as `server__tool` next to the built-in ones. The config has the shape of the assistant's `[mcp.servers.NAME]`
 * (src/assistant/config.py). Approval follows each tool's annotations (read-only and closed-world may be auto;
 * anything else asks), and results of open-world or marked tools are labelled untrusted. A server that fails to start
 * or dies is reported once and its tools leave the list; the agent goes on without them.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, McpError, type Tool as McpTool } from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";

import { Aborted, ToolFailed } from "./errors.js";
import type { ToolKind } from "./policy.js";
import type { Arguments, Tool, ToolOutcome } from "./tools/tool.js";
import { UNTRUSTED_KEY, labelUntrusted } from "./untrusted.js";

export interface McpServerConfig {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the SDK's minimal inherited environment (HOME, PATH, …). */
  readonly env: Readonly<Record<string, string>>;
  readonly callTimeoutMs: number;
  readonly startTimeoutMs: number;
}

const SERVER_NAME = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
const KNOWN_KEYS = ["command", "env", "enabled", "call_timeout_s", "start_timeout_s"];
/** Bytes of a server's stderr kept, for the message when it fails. */
const STDERR_TAIL = 4096;

function seconds(entry: Record<string, unknown>, key: string, fallback: number, max: number): number | string {
  const value = entry[key];
  if (value === undefined) return fallback * 1000;
  if (typeof value !== "number" || !(value > 0) || value > max) return `${key} must be a number of seconds above 0 and at most ${max}`;
  return value * 1000;
}

/** Parse `variet.mcpServers`; each bad entry is one line naming the fix, and the others still start. */
export function parseMcpServers(value: unknown): { servers: McpServerConfig[]; problems: string[] } {
  const servers: McpServerConfig[] = [];
  const problems: string[] = [];
  if (value === undefined || value === null) return { servers, problems };
  if (typeof value !== "object" || Array.isArray(value)) {
    return { servers, problems: ["variet.mcpServers must be an object of servers by name, e.g. {\"searxng\": {\"command\": [\"assistant\", \"mcp\", \"searxng\"]}}"] };
  }
  for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
    const where = `variet.mcpServers.${name}`;
    if (!SERVER_NAME.test(name) || name.length > 24) {
      problems.push(`${where}: the name must be lower_snake_case, at most 24 characters, no '__'`);
      continue;
    }
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
      problems.push(`${where} must be an object with a command`);
      continue;
    }
    const entry = raw as Record<string, unknown>;
    if (entry.enabled === false) continue;
    const unknown = Object.keys(entry).filter((key) => !KNOWN_KEYS.includes(key));
    if (unknown.includes("url")) {
      problems.push(`${where}.url: the editor starts stdio servers only; give a command instead`);
      continue;
    }
    if (unknown.includes("max_restarts")) {
      problems.push(`${where}.max_restarts: the editor does not restart a stopped server (reload the window); remove it`);
      continue;
    }
    if (unknown.length > 0) {
      problems.push(`${where}: unknown setting '${unknown[0] ?? ""}' (known: ${KNOWN_KEYS.join(", ")})`);
      continue;
    }
    const command = entry.command;
    if (!Array.isArray(command) || command.length === 0 || !command.every((part): part is string => typeof part === "string" && part !== "")) {
      problems.push(`${where}.command must be a non-empty list of strings, e.g. ["assistant", "mcp", "searxng"]`);
      continue;
    }
    const env = entry.env ?? {};
    if (typeof env !== "object" || Array.isArray(env) || !Object.values(env).every((v) => typeof v === "string")) {
      problems.push(`${where}.env must map names to string values`);
      continue;
    }
    if (entry.enabled !== undefined && typeof entry.enabled !== "boolean") {
      problems.push(`${where}.enabled must be true or false`);
      continue;
    }
    const callTimeoutMs = seconds(entry, "call_timeout_s", 60, 3600);
    const startTimeoutMs = seconds(entry, "start_timeout_s", 30, 600);
    if (typeof callTimeoutMs === "string" || typeof startTimeoutMs === "string") {
      problems.push(`${where}.${typeof callTimeoutMs === "string" ? callTimeoutMs : String(startTimeoutMs)}`);
      continue;
    }
    const [program = "", ...args] = command;
    servers.push({ name, command: program, args, env: env as Record<string, string>, callTimeoutMs, startTimeoutMs });
  }
  return { servers, problems };
}

/** `server__tool`, limited to what OpenAI function names allow. */
export function toolName(server: string, tool: string): string {
  return `${server}__${tool}`.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
}

/** Read-only and closed-world tools may be auto-approved like reads; everything else (no annotations too) asks. */
export function kindOf(tool: McpTool): ToolKind {
  const notes = tool.annotations;
  return notes?.readOnlyHint === true && notes.destructiveHint !== true && notes.openWorldHint === false ? "read" : "outbound";
}

/** Marked tools, marked results, and anything not declared closed-world carry third-party text. */
function isUntrusted(tool: McpTool, resultMeta: Record<string, unknown> | undefined): boolean {
  return resultMeta?.[UNTRUSTED_KEY] === true || tool._meta?.[UNTRUSTED_KEY] === true || tool.annotations?.openWorldHint !== false;
}

function resultText(content: readonly { type: string; text?: unknown }[]): string {
  const parts = content.map((block) => (block.type === "text" && typeof block.text === "string" ? block.text : `[${block.type} content omitted]`));
  return parts.length > 0 ? parts.join("\n") : "(no output)";
}

type State =
  | { readonly kind: "idle" }
  | { readonly kind: "running"; readonly client: Client; readonly tools: readonly Tool[] }
  | { readonly kind: "failed" };

/** One configured server: its client while it runs, and the tail of its stderr for messages. */
class Server {
  state: State = { kind: "idle" };
  private stderr = "";

  constructor(readonly config: McpServerConfig) {}

  /** The last line the server wrote to stderr, as a hint in a failure message. */
  hint(): string {
    const last = this.stderr.trim().split("\n").at(-1)?.trim() ?? "";
    return last ? `: ${last.slice(0, 200)}` : "";
  }

  stdio(): Transport {
    const transport = new StdioClientTransport({
      command: this.config.command,
      args: [...this.config.args],
      env: { ...this.config.env },
      stderr: "pipe",
    });
    transport.stderr?.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-STDERR_TAIL);
    });
    return transport;
  }
}

export interface McpServersOptions {
  /** How to reach a server; stdio by default. Tests connect in-process servers here. */
  readonly connect?: (config: McpServerConfig) => Transport;
}

/** Every configured server and its tools. Started at the first turn; stopped by `close` or a new `configure`. */
export class McpServers {
  private servers: Server[] = [];
  private notices: string[] = [];
  private cachedTools: readonly Tool[] | undefined;
  private readonly validator = new AjvJsonSchemaValidator();

  constructor(
    configs: readonly McpServerConfig[] = [],
    problems: readonly string[] = [],
    private readonly options: McpServersOptions = {},
  ) {
    this.servers = configs.map((config) => new Server(config));
    this.notices = [...problems];
  }

  /** Use a new configuration: running servers are stopped now, the new ones start at the next turn. */
  async configure(configs: readonly McpServerConfig[], problems: readonly string[]): Promise<void> {
    const old = this.servers;
    this.servers = configs.map((config) => new Server(config));
    this.notices = [...problems];
    this.cachedTools = undefined;
    await Promise.all(old.map((server) => this.stop(server)));
  }

  /** Start every server that has not been started yet; resolves once each runs or has failed (never throws but Aborted). */
  async start(signal: AbortSignal): Promise<void> {
    await Promise.all(this.servers.filter((server) => server.state.kind === "idle").map((server) => this.startOne(server, signal)));
    if (signal.aborted) throw new Aborted();
  }

  /** Messages for the chat (bad settings, servers that failed or stopped), each handed out once. */
  takeNotices(): string[] {
    const notices = this.notices;
    this.notices = [];
    return notices;
  }

  /** The tools of the running servers, sorted by name; the same array until a server starts or stops. */
  tools(): readonly Tool[] {
    this.cachedTools ??= this.servers
      .flatMap((server) => (server.state.kind === "running" ? server.state.tools : []))
      .sort((a, b) => (a.definition.name < b.definition.name ? -1 : a.definition.name > b.definition.name ? 1 : 0));
    return this.cachedTools;
  }

  async close(): Promise<void> {
    const servers = this.servers;
    this.servers = [];
    this.cachedTools = undefined;
    await Promise.all(servers.map((server) => this.stop(server)));
  }

  private async stop(server: Server): Promise<void> {
    const state = server.state;
    server.state = { kind: "failed" };
    if (state.kind === "running") await state.client.close();
  }

  private async startOne(server: Server, signal: AbortSignal): Promise<void> {
    const { config } = server;
    const client = new Client({ name: "variet-vscode", version: "1" });
    try {
      const transport = this.options.connect ? this.options.connect(config) : server.stdio();
      await client.connect(transport, { signal, timeout: config.startTimeoutMs });
      const listed: McpTool[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 100; page++) {
        const result = await client.listTools(cursor ? { cursor } : {}, { signal, timeout: config.startTimeoutMs });
        listed.push(...result.tools);
        cursor = result.nextCursor;
        if (!cursor) break;
      }
      if (!this.servers.includes(server)) {
        // Reconfigured or closed while starting.
        await client.close();
        return;
      }
      server.state = { kind: "running", client, tools: listed.map((tool) => this.tool(server, client, tool)) };
      this.cachedTools = undefined;
      client.onclose = () => this.lost(server, client);
    } catch (error) {
      await client.close().catch(() => undefined);
      if (signal.aborted) return;
      server.state = { kind: "failed" };
      const code = error instanceof McpError ? error.code : undefined;
      const why =
        code === (ErrorCode.RequestTimeout as number)
          ? `no answer within ${config.startTimeoutMs / 1000} s`
          : code === (ErrorCode.ConnectionClosed as number)
            ? "it exited"
            : error instanceof Error
              ? error.message
              : String(error);
      this.notices.push(`MCP server '${config.name}' did not start (${why})${server.hint()}; going on without its tools`);
    }
  }

  /** A running server's connection closed without us closing it: report it once and drop its tools. */
  private lost(server: Server, client: Client): void {
    if (server.state.kind !== "running" || server.state.client !== client) return;
    server.state = { kind: "failed" };
    this.cachedTools = undefined;
    this.notices.push(`MCP server '${server.config.name}' stopped${server.hint()}; going on without its tools`);
  }

  private tool(server: Server, client: Client, tool: McpTool): Tool {
    const name = toolName(server.config.name, tool.name);
    const schema = tool.inputSchema;
    let validate: ((input: unknown) => string | undefined) | undefined;
    try {
      const check = this.validator.getValidator(schema);
      validate = (input) => {
        const result = check(input);
        return result.valid ? undefined : result.errorMessage;
      };
    } catch {
      // A schema ajv cannot compile: the server still checks its own arguments.
      validate = undefined;
    }
    const timeoutMs = server.config.callTimeoutMs;
    return {
      definition: { name, kind: kindOf(tool), description: tool.description ?? tool.title ?? tool.name, parameters: schema },
      parse: (json: string): Arguments => {
        let parsed: unknown;
        try {
          parsed = json.trim() === "" ? {} : JSON.parse(json);
        } catch {
          throw new ToolFailed(`the arguments for ${name} are not valid JSON (cut off?): ${json.slice(0, 200)}`);
        }
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new ToolFailed(`the arguments for ${name} must be a JSON object`);
        const problem = validate?.(parsed);
        if (problem) throw new ToolFailed(`arguments for ${name} do not match its schema: ${problem}`);
        return parsed as Arguments;
      },
      run: async (args, context): Promise<ToolOutcome> => {
        if (server.state.kind !== "running" || server.state.client !== client) {
          throw new ToolFailed(`tool server '${server.config.name}' is not running; do not call its tools again`);
        }
        let result: Awaited<ReturnType<Client["callTool"]>>;
        try {
          result = await client.callTool({ name: tool.name, arguments: { ...args } }, undefined, { signal: context.signal, timeout: timeoutMs });
        } catch (error) {
          if (context.signal.aborted) throw new Aborted();
          if (error instanceof McpError && error.code === (ErrorCode.RequestTimeout as number)) {
            throw new ToolFailed(`${name} did not answer within ${timeoutMs / 1000} s`);
          }
          if (error instanceof McpError && error.code === (ErrorCode.ConnectionClosed as number)) {
            this.lost(server, client);
            throw new ToolFailed(`tool server '${server.config.name}' stopped during the call; its tools are gone for now`);
          }
          throw new ToolFailed(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
        const content = Array.isArray(result.content) ? (result.content as { type: string; text?: unknown }[]) : [];
        const untrusted = isUntrusted(tool, result._meta);
        const text = resultText(content);
        return { status: result.isError === true ? "error" : "ok", content: untrusted ? labelUntrusted(name, text) : text, untrusted };
      },
    };
  }
}

/**
 * An in-process MCP server for core tests: the SDK's own low-level `Server` (so every message is the real protocol,
 * https://modelcontextprotocol.io/specification, tools/list and tools/call), linked to the client by the SDK's
 * `InMemoryTransport`. Each test gives the tools it lists and how calls are answered.
 */
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { type CallToolResult, CallToolRequestSchema, ListToolsRequestSchema, type Tool } from "@modelcontextprotocol/sdk/types.js";

export type Answer = (args: Record<string, unknown>) => CallToolResult | Promise<CallToolResult>;

export class InProcessMcpServer {
  readonly calls: { name: string; args: Record<string, unknown> }[] = [];
  private serverSide: Transport | undefined;

  constructor(
    private readonly tools: readonly Tool[],
    private readonly answers: Readonly<Record<string, Answer>>,
  ) {}

  /** The client's end of a fresh connection (for `McpServersOptions.connect`). */
  connect(): Transport {
    const [client, server] = InMemoryTransport.createLinkedPair();
    const mcp = new Server({ name: "fake", version: "1.0.0" }, { capabilities: { tools: {} } });
    mcp.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...this.tools] }));
    mcp.setRequestHandler(CallToolRequestSchema, async (request) => {
      const args = request.params.arguments ?? {};
      this.calls.push({ name: request.params.name, args });
      const answer = this.answers[request.params.name];
      return answer ? answer(args) : { content: [{ type: "text", text: `no such tool ${request.params.name}` }], isError: true };
    });
    this.serverSide = server;
    void mcp.connect(server);
    return client;
  }

  /** The server goes away, as a crashed process would. */
  async crash(): Promise<void> {
    await this.serverSide?.close();
  }
}

export const text = (value: string, meta?: Record<string, unknown>): CallToolResult => ({ content: [{ type: "text", text: value }], ...(meta ? { _meta: meta } : {}) });

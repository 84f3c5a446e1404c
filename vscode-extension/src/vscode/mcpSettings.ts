/**
 * `variet.mcpServers`, read from the user's own settings only: a server is a command the editor runs, so a cloned
 * repository's `.vscode/settings.json` must never add one (package.json also gives the setting `application` scope).
 */
import * as vscode from "vscode";

import { type McpServerConfig, parseMcpServers } from "../core/mcp.js";

export const MCP_SERVERS_SETTING = "variet.mcpServers";

export function readMcpServers(): { servers: McpServerConfig[]; problems: string[] } {
  const inspected = vscode.workspace.getConfiguration("variet").inspect<unknown>("mcpServers");
  return parseMcpServers(inspected?.globalValue);
}

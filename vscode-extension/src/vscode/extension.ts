/** Wires the editor to the agent core: host, chat view, status bar, commands and inline completions. */
import * as vscode from "vscode";

import { McpServers } from "../core/mcp.js";
import { CHECKPOINT_SCHEME, CheckpointDocuments, checkpointStore } from "./checkpointView.js";
import { ChatView } from "./chatView.js";
import { registerCommands } from "./commands.js";
import { Connections } from "./connections.js";
import { InfillProvider } from "./inlineCompletion.js";
import { MCP_SERVERS_SETTING, readMcpServers } from "./mcpSettings.js";
import { ADMIN_TOKEN_SECRET, USER_ONLY_SETTINGS, warnIgnoredWorkspaceSettings } from "./settings.js";
import { TierStatusBar } from "./statusBar.js";
import { PROPOSAL_SCHEME, ProposalDocuments, VsCodeHost } from "./vscodeHost.js";

export function activate(context: vscode.ExtensionContext): Promise<void> {
  const connections = new Connections(context.secrets);
  const proposals = new ProposalDocuments();
  const folder = vscode.workspace.workspaceFolders?.[0];
  const host = folder && folder.uri.scheme === "file" ? new VsCodeHost(folder.uri.fsPath, proposals) : undefined;
  const checkpoints = host ? checkpointStore(context.globalStorageUri.fsPath, host.workspaceRoot) : undefined;

  const warned = new Set<string>();
  // Returned, so activation (and a test) can wait for the check.
  const checked = warnIgnoredWorkspaceSettings(warned);

  const statusBar = new TierStatusBar({
    control: (streaming) => connections.control(streaming),
    hasAdminToken: async () => Boolean(await context.secrets.get(ADMIN_TOKEN_SECRET)),
  });
  // Started at the first agent turn, so an editor that never opens the chat runs no servers.
  const configured = readMcpServers();
  const mcp = new McpServers(configured.servers, configured.problems);
  const chat = new ChatView({
    extensionUri: context.extensionUri,
    state: context.workspaceState,
    host,
    llm: () => connections.llm(),
    onServedBy: (tier) => statusBar.noteServedBy(tier),
    ...(checkpoints ? { checkpoints } : {}),
    mcp,
  });

  context.subscriptions.push(
    statusBar,
    chat,
    { dispose: () => void mcp.close() },
    vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, proposals),
    ...(checkpoints ? [vscode.workspace.registerTextDocumentContentProvider(CHECKPOINT_SCHEME, new CheckpointDocuments(checkpoints))] : []),
    vscode.window.registerWebviewViewProvider("variet.chat", chat, { webviewOptions: { retainContextWhenHidden: true } }),
    ...registerCommands({
      secrets: context.secrets,
      control: () => connections.control(),
      onSecretsChanged: () => statusBar.restart(),
      newChat: () => chat.newChat(),
      stop: () => chat.stop(),
    }),
    context.secrets.onDidChange(() => statusBar.restart()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("variet.serverUrl")) statusBar.restart();
      if (USER_ONLY_SETTINGS.some((key) => event.affectsConfiguration(`variet.${key}`))) void warnIgnoredWorkspaceSettings(warned);
      if (event.affectsConfiguration(MCP_SERVERS_SETTING)) {
        const { servers, problems } = readMcpServers();
        void mcp.configure(servers, problems);
      }
    }),
    vscode.languages.registerInlineCompletionItemProvider(
      { pattern: "**" },
      new InfillProvider(() => connections.llm()),
    ),
  );
  statusBar.start();
  return checked;
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}

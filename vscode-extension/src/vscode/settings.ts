/** The `variet.*` settings, read fresh each time they are needed so changes apply without a reload. */
import * as fs from "node:fs/promises";
import * as path from "node:path";

import * as vscode from "vscode";

import { type ApprovalPolicy, policyFrom } from "../core/policy.js";

export interface Settings {
  readonly serverUrl: string;
  readonly agentTier: string;
  readonly planWithDeep: boolean;
  readonly policy: ApprovalPolicy;
  readonly maxSteps: number;
  readonly idleTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly inlineCompletions: boolean;
  /** The swapd companion that answers inline completions (a FIM model beside every tier). */
  readonly completionModel: string;
  /** Unset when the user turned checkpoints off. */
  readonly checkpoints: { readonly maxFileBytes: number } | undefined;
}

export const API_KEY_SECRET = "variet.apiKey";
export const ADMIN_TOKEN_SECRET = "variet.adminToken";

/**
 * Settings a cloned repository must never set: approvals decide what runs without asking, the server URL is where
 * the API key goes, checkpoints are what makes a step undoable, and MCP servers are commands the editor runs.
 * package.json gives them `application` or `machine` scope, and they are read from the user's own settings only, so
 * an editor that still applied a workspace value would not change them either.
 */
export const USER_ONLY_SETTINGS: readonly string[] = [
  "serverUrl",
  "approval.edit",
  "approval.command",
  "approval.read",
  "checkpoints.enabled",
  "checkpoints.maxFileKiB",
  "mcpServers",
];

/** The value from user (or remote machine) settings, else the default; workspace and folder values are ignored. */
function userValue<T>(config: vscode.WorkspaceConfiguration, key: string): T | undefined {
  const inspected = config.inspect<T>(key);
  return inspected?.globalValue ?? inspected?.defaultValue;
}

export function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration("variet");
  const number = (key: string, fallback: number, min: number): number => {
    const value = config.get<number>(key);
    return typeof value === "number" && Number.isFinite(value) ? Math.max(min, value) : fallback;
  };
  return {
    serverUrl: userValue<string>(config, "serverUrl") || "http://127.0.0.1:18080",
    agentTier: config.get<string>("agentTier") || "balanced",
    planWithDeep: config.get<boolean>("planWithDeep") === true,
    policy: policyFrom({
      read: userValue(config, "approval.read"),
      edit: userValue(config, "approval.edit"),
      command: userValue(config, "approval.command"),
    }),
    maxSteps: Math.floor(number("maxSteps", 25, 1)),
    idleTimeoutMs: number("idleTimeoutSeconds", 300, 5) * 1000,
    commandTimeoutMs: number("commandTimeoutSeconds", 120, 1) * 1000,
    inlineCompletions: config.get<boolean>("inlineCompletions") === true,
    completionModel: (config.get<string>("completion.model") ?? "").trim(),
    checkpoints:
      userValue<boolean>(config, "checkpoints.enabled") === false
        ? undefined
        : { maxFileBytes: Math.max(1, Number(userValue<number>(config, "checkpoints.maxFileKiB")) || 1024) * 1024 },
  };
}

/**
 * The user-only settings (full names) that this workspace tries to set. VS Code drops such values before the API
 * sees them, so the folders' `.vscode/settings.json` texts are searched for the keys as well.
 */
export async function ignoredWorkspaceSettings(): Promise<string[]> {
  const config = vscode.workspace.getConfiguration("variet");
  const texts = await Promise.all(
    (vscode.workspace.workspaceFolders ?? [])
      .filter((folder) => folder.uri.scheme === "file")
      .map(async (folder) => fs.readFile(path.join(folder.uri.fsPath, ".vscode", "settings.json"), "utf8").catch(() => "")),
  );
  return USER_ONLY_SETTINGS.filter((key) => {
    const inspected = config.inspect(key);
    if (inspected?.workspaceValue !== undefined || inspected?.workspaceFolderValue !== undefined) return true;
    return texts.some((text) => text.includes(`"variet.${key}"`));
  }).map((key) => `variet.${key}`);
}

/** Tell the user, once per setting and session, that a workspace tried to set a user-only setting. */
export async function warnIgnoredWorkspaceSettings(alreadyShown: Set<string>): Promise<void> {
  const fresh = (await ignoredWorkspaceSettings()).filter((name) => !alreadyShown.has(name));
  if (fresh.length === 0) return;
  for (const name of fresh) alreadyShown.add(name);
  void vscode.window.showWarningMessage(
    `Variet ignores ${fresh.join(", ")} in this workspace's settings: approvals, the server URL, checkpoints and MCP servers come only from your user settings.`,
  );
}

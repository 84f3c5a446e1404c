/** The `variet.*` settings, read fresh each time they are needed so changes apply without a reload. */
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
}

export const API_KEY_SECRET = "variet.apiKey";
export const ADMIN_TOKEN_SECRET = "variet.adminToken";

export function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration("variet");
  const number = (key: string, fallback: number, min: number): number => {
    const value = config.get<number>(key);
    return typeof value === "number" && Number.isFinite(value) ? Math.max(min, value) : fallback;
  };
  return {
    serverUrl: config.get<string>("serverUrl") || "http://127.0.0.1:18080",
    agentTier: config.get<string>("agentTier") || "balanced",
    planWithDeep: config.get<boolean>("planWithDeep") === true,
    policy: policyFrom({
      read: config.get("approval.read"),
      edit: config.get("approval.edit"),
      command: config.get("approval.command"),
    }),
    maxSteps: Math.floor(number("maxSteps", 25, 1)),
    idleTimeoutMs: number("idleTimeoutSeconds", 300, 5) * 1000,
    commandTimeoutMs: number("commandTimeoutSeconds", 120, 1) * 1000,
    inlineCompletions: config.get<boolean>("inlineCompletions") === true,
  };
}

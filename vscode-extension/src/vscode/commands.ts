/** The palette commands: switch tier (control API, admin token), set the API key or admin token (SecretStorage). */
import * as vscode from "vscode";

import { VarietError } from "../core/errors.js";
import { TIERS, type SwapdControl, type TierInfo } from "../core/swapd.js";
import { ADMIN_TOKEN_SECRET, API_KEY_SECRET } from "./settings.js";

export interface CommandDeps {
  readonly secrets: vscode.SecretStorage;
  readonly control: () => SwapdControl;
  readonly onSecretsChanged: () => void;
  readonly newChat: () => void;
  readonly stop: () => void;
}

function message(error: unknown): string {
  return error instanceof VarietError ? error.message : `internal error: ${String(error)}`;
}

export async function switchTier(deps: Pick<CommandDeps, "control" | "secrets">): Promise<void> {
  if (!(await deps.secrets.get(ADMIN_TOKEN_SECRET))) {
    const choice = await vscode.window.showErrorMessage("Switching tiers needs swapd's admin token.", "Set Admin Token");
    if (choice) await vscode.commands.executeCommand("variet.setAdminToken");
    return;
  }
  const control = deps.control();
  const signal = AbortSignal.timeout(30_000);
  let tiers: TierInfo[];
  try {
    tiers = await control.tiers(signal);
  } catch (error) {
    void vscode.window.showErrorMessage(`Variet: ${message(error)}`);
    return;
  }
  if (tiers.length === 0) tiers = TIERS.map((name) => ({ name, state: "unknown", ctxSize: null }));
  const picked = await vscode.window.showQuickPick(
    tiers.map((tier) => ({
      label: tier.name,
      description: tier.state,
      detail: tier.ctxSize ? `context ${tier.ctxSize} tokens` : undefined,
      tier: tier.name,
    })),
    { placeHolder: "Switch swapd to which tier?" },
  );
  if (!picked) return;
  try {
    const answer = await control.swap(picked.tier, signal);
    void vscode.window.setStatusBarMessage(`Variet: swapping to ${answer.tier} (${answer.state})`, 5000);
  } catch (error) {
    void vscode.window.showErrorMessage(`Variet: ${message(error)}`);
  }
}

export async function setSecret(secrets: vscode.SecretStorage, key: string, what: string): Promise<boolean> {
  const value = await vscode.window.showInputBox({
    prompt: `swapd's ${what} (stored in the editor's secret storage; leave empty to remove it)`,
    password: true,
    ignoreFocusOut: true,
  });
  if (value === undefined) return false;
  if (value.trim() === "") await secrets.delete(key);
  else await secrets.store(key, value.trim());
  return true;
}

export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand("variet.switchTier", () => switchTier(deps)),
    vscode.commands.registerCommand("variet.setApiKey", async () => {
      if (await setSecret(deps.secrets, API_KEY_SECRET, "API key")) deps.onSecretsChanged();
    }),
    vscode.commands.registerCommand("variet.setAdminToken", async () => {
      if (await setSecret(deps.secrets, ADMIN_TOKEN_SECRET, "admin token")) deps.onSecretsChanged();
    }),
    vscode.commands.registerCommand("variet.newChat", () => deps.newChat()),
    vscode.commands.registerCommand("variet.stop", () => deps.stop()),
  ];
}

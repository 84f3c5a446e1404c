/** Builds swapd clients from the current settings and secrets: the API key for `/v1`, the admin token for control. */
import type * as vscode from "vscode";

import { Llm } from "../core/llm.js";
import { SwapdControl } from "../core/swapd.js";
import { type Credentials, Transport } from "../core/transport.js";
import { ADMIN_TOKEN_SECRET, API_KEY_SECRET, readSettings } from "./settings.js";

export class Connections {
  private llmCache: { key: string; llm: Llm } | undefined;

  constructor(private readonly secrets: vscode.SecretStorage) {}

  readonly apiKey: Credentials = {
    label: "API key",
    setCommand: "Variet: Set API Key",
    token: async () => this.secrets.get(API_KEY_SECRET),
  };

  readonly adminToken: Credentials = {
    label: "admin token",
    setCommand: "Variet: Set Admin Token",
    token: async () => this.secrets.get(ADMIN_TOKEN_SECRET),
  };

  /** One client per server URL and idle limit, so its /props and /tokenize caches survive between turns. */
  llm(): Llm {
    const { serverUrl, idleTimeoutMs } = readSettings();
    const key = `${serverUrl}\0${idleTimeoutMs}`;
    if (this.llmCache?.key !== key) {
      this.llmCache = { key, llm: new Llm(new Transport({ baseUrl: serverUrl, credentials: this.apiKey, idleTimeoutMs })) };
    }
    return this.llmCache.llm;
  }

  /** Control API client; `streaming` turns the idle watchdog off for the quiet event stream. */
  control(streaming = false): SwapdControl {
    const { serverUrl } = readSettings();
    return new SwapdControl(new Transport({ baseUrl: serverUrl, credentials: this.adminToken, idleTimeoutMs: streaming ? 0 : 30_000 }));
  }
}

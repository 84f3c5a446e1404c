/**
 * A hand-written stand-in for the `vscode` module (aliased in vitest.config.mts), covering only what src/vscode uses,
 * with the shapes of @types/vscode. Tests script the user's answers through `mock`.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";

type Listener<T> = (value: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  event = (listener: Listener<T>): { dispose(): void } => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
    readonly query: string,
  ) {}
  get fsPath(): string {
    return this.path;
  }
  static file(p: string): Uri {
    return new Uri("file", p, "");
  }
  static from(parts: { scheme: string; path?: string; query?: string }): Uri {
    return new Uri(parts.scheme, parts.path ?? "", parts.query ?? "");
  }
  static joinPath(base: Uri, ...segments: string[]): Uri {
    return new Uri(base.scheme, path.posix.join(base.path, ...segments), "");
  }
  toString(): string {
    return `${this.scheme}://${this.path}${this.query ? `?${this.query}` : ""}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}
export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export class InlineCompletionItem {
  constructor(
    readonly insertText: string,
    readonly range?: Range,
  ) {}
}
export class TabInputTextDiff {
  constructor(
    readonly original: Uri,
    readonly modified: Uri,
  ) {}
}

export const StatusBarAlignment = { Left: 1, Right: 2 } as const;
export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 } as const;

export interface FakeStatusBarItem {
  text: string;
  tooltip: string | undefined;
  command: string | undefined;
  name: string | undefined;
  backgroundColor: ThemeColor | undefined;
  visible: boolean;
  show(): void;
  dispose(): void;
}

type Answer = string | undefined | ((...args: unknown[]) => unknown);

/** The scripted side of the mock: queued answers per window function, and a record of calls. */
/** The defaults the extension declares, as VS Code reads them from package.json. */
const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  contributes: { configuration: { properties: Record<string, { default?: unknown }> } };
};
const DEFAULTS = new Map(Object.entries(manifest.contributes.configuration.properties).map(([key, schema]) => [key, schema.default]));

export const mock = {
  /** User settings. */
  config: new Map<string, unknown>(),
  /** The workspace's `.vscode/settings.json`; `get` lets it win whatever the scope, as an editor ignoring scopes would. */
  workspaceConfig: new Map<string, unknown>(),
  answers: new Map<string, Answer[]>(),
  calls: [] as { fn: string; args: unknown[] }[],
  statusBarItems: [] as FakeStatusBarItem[],
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  diagnostics: new Map<string, { range: Range; message: string; severity: number; source?: string }[]>(),
  tabs: [] as { input: unknown }[],
  reset(): void {
    this.config.clear();
    this.workspaceConfig.clear();
    this.answers.clear();
    this.calls = [];
    this.statusBarItems = [];
    this.commands.clear();
    this.diagnostics.clear();
    this.tabs = [];
  },
  answer(fn: string, ...values: Answer[]): void {
    this.answers.set(fn, [...(this.answers.get(fn) ?? []), ...values]);
  },
  callsTo(fn: string): unknown[][] {
    return this.calls.filter((c) => c.fn === fn).map((c) => c.args);
  },
};

function scripted(fn: string) {
  return (...args: unknown[]): Promise<unknown> => {
    mock.calls.push({ fn, args });
    const next = mock.answers.get(fn)?.shift();
    return Promise.resolve(typeof next === "function" ? next(...args) : next);
  };
}

export const window = {
  createStatusBarItem(): FakeStatusBarItem {
    const item: FakeStatusBarItem = {
      text: "",
      tooltip: undefined,
      command: undefined,
      name: undefined,
      backgroundColor: undefined,
      visible: false,
      show() {
        item.visible = true;
      },
      dispose() {
        item.visible = false;
      },
    };
    mock.statusBarItems.push(item);
    return item;
  },
  showInformationMessage: scripted("showInformationMessage"),
  showWarningMessage: scripted("showWarningMessage"),
  showErrorMessage: scripted("showErrorMessage"),
  showQuickPick: scripted("showQuickPick"),
  showInputBox: scripted("showInputBox"),
  setStatusBarMessage: (...args: unknown[]) => {
    mock.calls.push({ fn: "setStatusBarMessage", args });
    return { dispose() {} };
  },
  registerWebviewViewProvider: () => ({ dispose() {} }),
  tabGroups: {
    get all() {
      return [{ tabs: mock.tabs }];
    },
    close: async (tabs: unknown[]) => {
      mock.calls.push({ fn: "closeTabs", args: [tabs] });
      mock.tabs = mock.tabs.filter((t) => !tabs.includes(t));
      return true;
    },
  },
};

export const commands = {
  registerCommand(id: string, handler: (...args: unknown[]) => unknown) {
    mock.commands.set(id, handler);
    return { dispose: () => mock.commands.delete(id) };
  },
  async executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    mock.calls.push({ fn: "executeCommand", args: [id, ...args] });
    if (id === "vscode.diff") mock.tabs.push({ input: new TabInputTextDiff(args[0] as Uri, args[1] as Uri) });
    return mock.commands.get(id)?.(...args);
  },
};

export const workspace = {
  workspaceFolders: undefined as { uri: Uri }[] | undefined,
  getConfiguration(section: string) {
    const full = (key: string): string => `${section}.${key}`;
    return {
      get: <T>(key: string): T | undefined => (mock.workspaceConfig.get(full(key)) ?? mock.config.get(full(key)) ?? DEFAULTS.get(full(key))) as T | undefined,
      inspect: <T>(key: string) => ({
        key: full(key),
        defaultValue: DEFAULTS.get(full(key)) as T | undefined,
        globalValue: mock.config.get(full(key)) as T | undefined,
        workspaceValue: mock.workspaceConfig.get(full(key)) as T | undefined,
      }),
    };
  },
  registerTextDocumentContentProvider: () => ({ dispose() {} }),
  onDidChangeConfiguration: () => ({ dispose() {} }),
  openTextDocument: async (uri: Uri) => ({ uri }),
};

const diagnosticsChanged = new EventEmitter<{ uris: Uri[] }>();
export const languages = {
  getDiagnostics(uri?: Uri): unknown {
    if (uri) return mock.diagnostics.get(uri.fsPath) ?? [];
    return [...mock.diagnostics.entries()].map(([p, list]) => [Uri.file(p), list]);
  },
  onDidChangeDiagnostics: diagnosticsChanged.event,
  fireDiagnosticsChanged: (uris: Uri[]) => diagnosticsChanged.fire({ uris }),
  registerInlineCompletionItemProvider: () => ({ dispose() {} }),
};

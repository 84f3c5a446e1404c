/** An in-memory SecretStorage with the editor's change event. */
import type * as vscode from "vscode";

export class MemorySecrets implements vscode.SecretStorage {
  readonly values = new Map<string, string>();
  private readonly listeners: ((e: vscode.SecretStorageChangeEvent) => unknown)[] = [];

  get(key: string): Thenable<string | undefined> {
    return Promise.resolve(this.values.get(key));
  }
  store(key: string, value: string): Thenable<void> {
    this.values.set(key, value);
    for (const listener of this.listeners) listener({ key });
    return Promise.resolve();
  }
  delete(key: string): Thenable<void> {
    this.values.delete(key);
    for (const listener of this.listeners) listener({ key });
    return Promise.resolve();
  }
  keys(): Thenable<string[]> {
    return Promise.resolve([...this.values.keys()]);
  }
  onDidChange: vscode.Event<vscode.SecretStorageChangeEvent> = (listener) => {
    this.listeners.push(listener);
    return { dispose: () => undefined };
  };
}

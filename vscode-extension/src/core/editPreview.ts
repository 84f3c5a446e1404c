/**
 * Edits shown while the model is still writing them: from the streamed arguments of an `edit_file` or
 * `write_file` call, a proposed change as soon as the path is complete, updated as the replacement or the content
 * arrives. Only a preview: the tool checks the finished call and asks for approval as before. The arguments are
 * read with partial-json, which parses JSON cut off anywhere.
 */
import { Allow, parse } from "partial-json";

import type { ProposedChange } from "./host.js";
import type { Workspace } from "./workspace.js";

/** What the host shows; `undefined` closes the preview of that call. */
export type ShowPreview = (callId: string, change: ProposedChange | undefined) => void;

export interface StreamedCall {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  /** The arguments text so far. */
  readonly arguments: string;
}

interface Base {
  readonly relative: string;
  readonly text: string;
}

interface CallState {
  readonly id: string;
  readonly name: string;
  latest: string;
  rendered: string | undefined;
  busy: boolean;
  /** Closed previews are never shown again, even by a render still in flight. */
  closed: boolean;
  rendering: Promise<void>;
  path: string | undefined;
  base: Promise<Base | undefined> | undefined;
}

type Fields = Readonly<Record<string, unknown>>;

/** The JSON object parsed so far; `complete` keeps only strings whose closing quote has arrived. */
function fields(text: string, complete: boolean): Fields {
  try {
    const value: unknown = parse(text, complete ? Allow.ALL & ~Allow.STR : Allow.ALL);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Fields) : {};
  } catch {
    return {};
  }
}

function stringField(object: Fields, key: string): string | undefined {
  const value = object[key];
  return typeof value === "string" ? value : undefined;
}

function occurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

/** The file with the edit applied as far as it is written; the file unchanged until `search` is complete and unique. */
function editedText(base: string, search: string | undefined, replace: string): string {
  if (!search) return base;
  let find = search;
  let put = replace;
  // As the tool does: a Windows-style file keeps its \r\n line ends.
  if (base.includes("\r\n") && !find.includes("\r")) {
    find = find.replace(/\n/g, "\r\n");
    put = put.replace(/\r?\n/g, "\r\n");
  }
  if (occurrences(base, find) !== 1) return base;
  const at = base.indexOf(find);
  return base.slice(0, at) + put + base.slice(at + find.length);
}

export class EditPreviews {
  private readonly calls = new Map<number, CallState>();
  private readonly shown = new Set<string>();

  constructor(
    private readonly workspace: Workspace,
    private readonly show: ShowPreview,
  ) {}

  /** Take the latest arguments of a streamed call; previews only edit_file and write_file. */
  update(call: StreamedCall): void {
    if (call.name !== "edit_file" && call.name !== "write_file") return;
    let state = this.calls.get(call.index);
    if (!state) {
      state = { id: call.id, name: call.name, latest: "", rendered: undefined, busy: false, closed: false, rendering: Promise.resolve(), path: undefined, base: undefined };
      this.calls.set(call.index, state);
    }
    state.latest = call.arguments;
    if (!state.busy && !state.closed) state.rendering = this.render(state);
  }

  /** Resolves once every preview has caught up with the newest text it was given. */
  async settled(): Promise<void> {
    await Promise.all([...this.calls.values()].map((state) => state.rendering));
  }

  /** Close the preview of one call (it ran, failed or was refused). */
  close(callId: string): void {
    for (const state of this.calls.values()) if (state.id === callId) state.closed = true;
    if (this.shown.delete(callId)) this.show(callId, undefined);
  }

  closeAll(): void {
    for (const state of this.calls.values()) this.close(state.id);
  }

  /** Render until the newest text has been shown; reading the file is async, so deltas that arrive meanwhile coalesce. */
  private async render(state: CallState): Promise<void> {
    state.busy = true;
    try {
      while (state.rendered !== state.latest && !state.closed) {
        const text = state.latest;
        state.rendered = text;
        const change = await this.changeFor(state, text);
        if (change && !state.closed) {
          this.shown.add(state.id);
          this.show(state.id, change);
        }
      }
    } finally {
      state.busy = false;
    }
  }

  private async changeFor(state: CallState, text: string): Promise<ProposedChange | undefined> {
    const complete = fields(text, true);
    const path = stringField(complete, "path");
    if (!path) return undefined;
    if (state.path !== path) {
      state.path = path;
      state.base = this.load(state.name, path);
    }
    const base = await state.base;
    if (!base) return undefined;
    const loose = fields(text, false);
    if (state.name === "write_file") return { path: base.relative, before: "", after: stringField(loose, "content") ?? "", isNew: true };
    return { path: base.relative, before: base.text, after: editedText(base.text, stringField(complete, "search"), stringField(loose, "replace") ?? ""), isNew: false };
  }

  /** The file to preview against, through the workspace's confinement; none for a path the tool would refuse. */
  private async load(name: string, userPath: string): Promise<Base | undefined> {
    try {
      if (name === "write_file") {
        const resolved = await this.workspace.resolve(userPath);
        if (resolved.relative === "." || (await this.workspace.exists(resolved.relative))) return undefined;
        return { relative: resolved.relative, text: "" };
      }
      const file = await this.workspace.read(userPath);
      return { relative: file.relative, text: file.text };
    } catch {
      return undefined;
    }
  }
}

/** Every error the core raises; `message` is one line a user can act on. */
export class VarietError extends Error {
  override name = "VarietError";
}

/** swapd could not be reached at all (refused, DNS, reset before an answer). */
export class ServerUnreachable extends VarietError {
  override name = "ServerUnreachable";
}

/** swapd answered 401: the API key or admin token is missing or wrong. */
export class Unauthorized extends VarietError {
  override name = "Unauthorized";
}

/** swapd or llama-server answered with an error status or an error event. */
export class ServerError extends VarietError {
  override name = "ServerError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The prompt does not fit the tier's context window even after trimming. */
export class ContextOverflow extends VarietError {
  override name = "ContextOverflow";
}

/** The response stream went quiet for longer than the idle limit. */
export class StreamStalled extends VarietError {
  override name = "StreamStalled";
}

/** The user pressed stop; not a failure. */
export class Aborted extends VarietError {
  override name = "Aborted";
  constructor() {
    super("stopped");
  }
}

/** A tool could not do what the model asked; the message goes back to the model as the tool result. */
export class ToolFailed extends VarietError {
  override name = "ToolFailed";
}

/** A path the model gave resolves outside the workspace (by `..`, an absolute path or a symlink). */
export class PathOutsideWorkspace extends ToolFailed {
  override name = "PathOutsideWorkspace";
}

/** Throw `Aborted` if the signal fired; call between awaits. */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Aborted();
}

/** The checkpoint store could not snapshot, compare or restore (git missing, store not writable, disk full). */
export class CheckpointFailed extends VarietError {
  override name = "CheckpointFailed";
}

/** Server-sent events (https://html.spec.whatwg.org/multipage/server-sent-events.html), parsed incrementally from bytes. */

export interface SseEvent {
  /** "message" when the stream named none. */
  readonly event: string;
  readonly data: string;
}

export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private readonly decoder = new TextDecoder();
  /** The last chunk ended in \r: a \n starting the next one belongs to that line end. */
  private skipLf = false;

  /** Feed bytes; returns the events completed by them. */
  push(chunk: Uint8Array): SseEvent[] {
    this.buffer += this.decoder.decode(chunk, { stream: true });
    if (this.skipLf && this.buffer.length > 0) {
      if (this.buffer.startsWith("\n")) this.buffer = this.buffer.slice(1);
      this.skipLf = false;
    }
    const events: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      if (match[0] === "\r" && this.buffer === "") this.skipLf = true;
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): SseEvent | undefined {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return undefined;
      }
      const event = { event: this.event || "message", data: this.data.join("\n") };
      this.data = [];
      this.event = "";
      return event;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    return undefined;
  }
}

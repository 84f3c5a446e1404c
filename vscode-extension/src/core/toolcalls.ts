/**
 * Tool calls that leaked into the text instead of arriving as native `tool_calls`, in the dialects local models
 * produce: Hermes/Qwen `<tool_call>{json}</tool_call>`, Qwen3.5/Coder `<function=name><parameter=p>v</parameter>`,
 * Gemma 4 `<|tool_call>call:name{k:<|"|>v<|"|>}<tool_call|>`, and a bare JSON `{"name", "arguments"}` answer.
 * Unbalanced or missing closing tags are tolerated; what cannot be read is left in the text.
 */

export interface LeakedCall {
  readonly name: string;
  /** JSON text of the arguments object, as a native call would carry. */
  readonly arguments: string;
}

export interface Extraction {
  readonly calls: LeakedCall[];
  /** The text with the calls removed. */
  readonly text: string;
}

function argsOf(value: unknown): string {
  if (typeof value === "string") return value;
  return JSON.stringify(value ?? {});
}

function fromJsonObject(value: unknown): LeakedCall | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const obj = value as Record<string, unknown>;
  const fn = obj.function && typeof obj.function === "object" ? (obj.function as Record<string, unknown>) : obj;
  const name = fn.name;
  if (typeof name !== "string" || name === "") return undefined;
  return { name, arguments: argsOf(fn.arguments ?? fn.parameters ?? {}) };
}

/** `<function=name> <parameter=p> value </parameter> ... </function>`, closing tags optional. */
function parseFunctionXml(block: string): LeakedCall | undefined {
  const head = /<function=([^>\s]+)\s*>/.exec(block);
  if (!head?.[1]) return undefined;
  const body = block.slice(head.index + head[0].length).replace(/<\/function>[\s\S]*$/, "");
  const args: Record<string, unknown> = {};
  const param = /<parameter=([^>\s]+)\s*>([\s\S]*?)(?=<\/parameter>|<parameter=|$)/g;
  for (let m = param.exec(body); m; m = param.exec(body)) {
    const key = m[1] ?? "";
    // The templates put the value on its own lines; strip exactly one leading and trailing newline.
    const raw = (m[2] ?? "").replace(/^\r?\n/, "").replace(/\r?\n$/, "");
    args[key] = raw;
    if (body.startsWith("</parameter>", param.lastIndex)) param.lastIndex += "</parameter>".length;
  }
  return { name: head[1], arguments: JSON.stringify(args) };
}

/** Gemma 4's value syntax: JSON-like, bare keys, strings fenced by `<|"|>`. Returns [value, end index]. */
class GemmaValueReader {
  private pos = 0;
  constructor(private readonly src: string) {}

  read(): unknown {
    const value = this.value();
    return value;
  }

  get position(): number {
    return this.pos;
  }

  private ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos] ?? "")) this.pos++;
  }

  private value(): unknown {
    this.ws();
    const rest = this.src.slice(this.pos);
    if (rest.startsWith('<|"|>')) {
      const end = this.src.indexOf('<|"|>', this.pos + 5);
      if (end === -1) throw new Error("unterminated string");
      const text = this.src.slice(this.pos + 5, end);
      this.pos = end + 5;
      return text;
    }
    const c = rest[0];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') {
      const m = /^"(?:[^"\\]|\\.)*"/.exec(rest);
      if (!m) throw new Error("bad string");
      this.pos += m[0].length;
      return JSON.parse(m[0]) as unknown;
    }
    const m = /^(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(rest);
    if (!m?.[1]) throw new Error("bad value");
    this.pos += m[1].length;
    return JSON.parse(m[1]) as unknown;
  }

  private object(): Record<string, unknown> {
    this.pos++;
    const out: Record<string, unknown> = {};
    for (;;) {
      this.ws();
      if (this.src[this.pos] === "}") {
        this.pos++;
        return out;
      }
      const keyMatch = /^(?:<\|"\|>([^<]*)<\|"\|>|"((?:[^"\\]|\\.)*)"|([A-Za-z_$][\w$-]*))\s*:/.exec(this.src.slice(this.pos));
      if (!keyMatch) throw new Error("bad key");
      const key = keyMatch[1] ?? keyMatch[2] ?? keyMatch[3] ?? "";
      this.pos += keyMatch[0].length;
      out[key] = this.value();
      this.ws();
      if (this.src[this.pos] === ",") this.pos++;
      else if (this.src[this.pos] !== "}") throw new Error("expected , or }");
    }
  }

  private array(): unknown[] {
    this.pos++;
    const out: unknown[] = [];
    for (;;) {
      this.ws();
      if (this.src[this.pos] === "]") {
        this.pos++;
        return out;
      }
      out.push(this.value());
      this.ws();
      if (this.src[this.pos] === ",") this.pos++;
      else if (this.src[this.pos] !== "]") throw new Error("expected , or ]");
    }
  }
}

function parseGemma(block: string): LeakedCall | undefined {
  const m = /^\s*call:([\w.-]+)\s*/.exec(block);
  if (!m?.[1]) return undefined;
  const rest = block.slice(m[0].length);
  if (!rest.startsWith("{")) return { name: m[1], arguments: "{}" };
  try {
    const reader = new GemmaValueReader(rest);
    return { name: m[1], arguments: JSON.stringify(reader.read()) };
  } catch {
    // Cut off or malformed: hand the raw text on, so the agent reports invalid arguments to the model.
    return { name: m[1], arguments: rest };
  }
}

function stripFence(text: string): string {
  const fenced = /^```(?:json)?\s*([\s\S]*?)\s*```$/.exec(text.trim());
  return fenced?.[1] ?? text.trim();
}

/** Pull leaked calls out of a model's text. Bare JSON counts only when it names one of `knownTools`. */
export function extractLeakedCalls(text: string, knownTools: ReadonlySet<string>): Extraction {
  const calls: LeakedCall[] = [];
  let rest = text;

  // Gemma 4: <|tool_call>call:name{...}<tool_call|>
  rest = rest.replace(/<\|tool_call>([\s\S]*?)(?:<tool_call\|>|$)/g, (whole, inner: string) => {
    const call = parseGemma(inner);
    if (!call) return whole;
    calls.push(call);
    return "";
  });

  // Hermes/Qwen: <tool_call> JSON or <function=...> XML </tool_call>; the closing tag may be missing.
  rest = rest.replace(/<tool_call>([\s\S]*?)(?:<\/tool_call>|(?=<tool_call>)|$)/g, (whole, inner: string) => {
    const trimmed = inner.trim();
    if (trimmed.startsWith("{")) {
      try {
        const call = fromJsonObject(JSON.parse(trimmed));
        if (call) {
          calls.push(call);
          return "";
        }
      } catch {
        return whole;
      }
    }
    const call = parseFunctionXml(trimmed);
    if (!call) return whole;
    calls.push(call);
    return "";
  });

  // Qwen3.5/Coder without the <tool_call> wrapper.
  rest = rest.replace(/<function=[^>\s]+\s*>[\s\S]*?(?:<\/function>|(?=<function=)|$)/g, (whole) => {
    const call = parseFunctionXml(whole);
    if (!call) return whole;
    calls.push(call);
    return "";
  });

  if (calls.length === 0) {
    const candidate = stripFence(rest);
    if (candidate.startsWith("{") || candidate.startsWith("[")) {
      try {
        const parsed: unknown = JSON.parse(candidate);
        const list = Array.isArray(parsed) ? parsed : [parsed];
        const found = list.map(fromJsonObject);
        if (found.length > 0 && found.every((call): call is LeakedCall => call !== undefined && knownTools.has(call.name))) {
          return { calls: found, text: "" };
        }
      } catch {
        // Plain text that happens to start with a brace.
      }
    }
  }
  return { calls, text: rest.trim() };
}

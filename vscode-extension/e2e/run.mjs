// End to end: the packaged .vsix in a real code-server, driven by Debian's chromium through playwright-core.
// One agent turn against a fake swapd: the model reads main.py, proposes an edit, the test clicks Accept in the
// editor's notification, and the file on disk changes. The workspace's own settings say
// `"variet.approval.command": "auto"`, and the command the model then runs must still ask in a modal (issue 13).
// The edit's diff must open while its call is still being written, and ask only once it is complete; then the
// checkpoint taken before the edit is compared with now and restored: the file is back (issue 15).
// Then, in new chats: one call to the project's searxng MCP server (the repo's .venv, against the fake SearXNG of
// tests/fakes/searxng.py) approved in its notification and shown as untrusted, and a task longer than the window
// whose oldest steps are summarized (issue 15).
// Screenshots of each step go to $E2E_OUT (default e2e/out). Run with `make e2e` (not part of `make test`).
import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const codeServer = path.join(here, "node_modules", ".bin", "code-server");
const vsix = path.join(here, "..", "variet.vsix");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const repo = path.resolve(here, "..", "..");
const venvPython = path.join(repo, ".venv", "bin", "python");
const assistant = path.join(repo, ".venv", "bin", "assistant");
if (!existsSync(assistant)) throw new Error("e2e: needs the repo's .venv with the assistant's MCP servers; run `make setup` at the root first");
const DEADLINE_MS = 120_000;
const out = process.env.E2E_OUT ?? path.join(here, "out");
await fs.mkdir(out, { recursive: true });
// Screenshots of an earlier run would mix with this run's numbering.
for (const name of await fs.readdir(out)) if (/^\d\d-.*\.png$/.test(name)) await fs.rm(path.join(out, name));
let shots = 0;
/** A screenshot named for the step, numbered in order. */
async function shot(page, name) {
  await page.screenshot({ path: path.join(out, `${String(++shots).padStart(2, "0")}-${name}.png`) });
}

function sse(res, chunks) {
  res.writeHead(200, { "Content-Type": "text/event-stream", "X-Swapd-Tier": "balanced" });
  for (const chunk of chunks) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, ...chunk }] })}\n\n`);
  res.end("data: [DONE]\n\n");
}
const call = (id, name, args) => [
  { delta: { tool_calls: [{ index: 0, id, type: "function", function: { name, arguments: JSON.stringify(args) } }] }, finish_reason: null },
  { delta: {}, finish_reason: "tool_calls" },
];

/**
 * A call whose arguments stop after the path until `gate` resolves, as a model still writing it: the diff must
 * open in between, and the question must not.
 */
const gatedCall = (id, name, args, gate) => async (res) => {
  const text = JSON.stringify(args);
  const cut = text.indexOf('"search"');
  const send = (chunk) => res.write(`data: ${JSON.stringify({ choices: [{ index: 0, ...chunk }] })}\n\n`);
  res.writeHead(200, { "Content-Type": "text/event-stream", "X-Swapd-Tier": "balanced" });
  send({ delta: { tool_calls: [{ index: 0, id, type: "function", function: { name, arguments: text.slice(0, cut) } }] }, finish_reason: null });
  await gate;
  send({ delta: { tool_calls: [{ index: 0, function: { arguments: text.slice(cut) } }] }, finish_reason: null });
  send({ delta: {}, finish_reason: "tool_calls" });
  res.end("data: [DONE]\n\n");
};
let releaseEdit;
const editGate = new Promise((resolve) => (releaseEdit = resolve));

const ADMIN_TOKEN = "e2e-admin-token";
const swaps = [];

/** The control API (docs/architecture.md, "swapd's control API"), for the status bar and Switch Tier. */
function control(req, res, body) {
  if (req.headers.authorization !== `Bearer ${ADMIN_TOKEN}`) {
    res.writeHead(401, { "Content-Type": "application/json" });
    return res.end(JSON.stringify({ error: { message: "bad admin token", code: 401, source: "swapd" } }));
  }
  const url = req.url ?? "";
  if (url.startsWith("/swapd/status")) return res.end(JSON.stringify({ tier: "balanced", state: "ready", pinned: null }));
  if (url.startsWith("/swapd/tiers")) {
    return res.end(JSON.stringify(["fast", "balanced", "deep"].map((name) => ({ name, aliases: [], state: name === "balanced" ? "ready" : "stopped", ctx_size: 32768, vram_mib: 0 }))));
  }
  if (url.startsWith("/swapd/swap")) {
    swaps.push(JSON.parse(body));
    res.writeHead(202, { "Content-Type": "application/json" });
    return res.end(JSON.stringify({ tier: "deep", state: "starting" }));
  }
  if (url.startsWith("/swapd/events")) {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    // Stays open, as swapd's stream does.
    return res.write(`event: state\ndata: ${JSON.stringify({ tier: "deep", state: "starting", phase: "load", progress: 0.4, message: null })}\n\n`);
  }
  res.writeHead(404).end();
}

const PARTS = 6;
/** The model's script per task, picked by the user's request (which a summary keeps); then "done". */
const scripts = {
  "fix the typo in main.py": [
    call("c1", "read_file", { path: "main.py" }),
    gatedCall("c2", "edit_file", { path: "main.py", search: "helo", replace: "hello" }, editGate),
    call("c3", "run_command", { command: "echo ran > ran.txt" }),
    [{ delta: { content: "Fixed the **typo**." }, finish_reason: "stop" }],
  ],
  "search the web for variet": [
    call("m1", "searxng__web_search", { query: "variet" }),
    [{ delta: { content: "The search found **three** results." }, finish_reason: "stop" }],
  ],
  "read every part file": [
    ...Array.from({ length: PARTS }, (_, i) => call(`p${i}`, "read_file", { path: `part${i}.txt` })),
    [{ delta: { content: "Read all six parts." }, finish_reason: "stop" }],
  ],
};
const SUMMARY = "Task: read every part file.\nDecisions: read them in order.\nFiles touched: the parts read so far.\nOpen to-dos: read the remaining parts.";
const summaryRequests = [];

/** Which script a request belongs to: the task named in its newest user message (or in the summary). */
function answerFor(body) {
  const request = JSON.parse(body);
  // A summary request: text only, the tools kept in the prompt (docs/decisions/0012-extension-summaries.md).
  if (request.tool_choice === "none") {
    summaryRequests.push(request);
    return [{ delta: { content: SUMMARY }, finish_reason: "stop" }];
  }
  const users = request.messages.filter((m) => m.role === "user").map((m) => m.content).reverse();
  const task = Object.keys(scripts).find((key) => users.some((text) => text.includes(key)));
  return (task && scripts[task].shift()) ?? [{ delta: { content: "done" }, finish_reason: "stop" }];
}

/** The fake swapd (docs/architecture.md, "swapd's LAN port"): a scripted model. */
function fakeSwapd() {
  return http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const url = req.url ?? "";
      if (url.startsWith("/swapd/")) return control(req, res, body);
      if (url.startsWith("/props")) return res.end(JSON.stringify({ default_generation_settings: { n_ctx: 32768 } }));
      if (url.startsWith("/tokenize")) return res.end(JSON.stringify({ tokens: Array.from({ length: Math.ceil(body.length / 4) }, () => 1) }));
      if (url.startsWith("/v1/chat/completions")) {
        const answer = answerFor(body);
        return typeof answer === "function" ? void answer(res) : sse(res, answer);
      }
      res.writeHead(404).end();
    });
  });
}

async function listen(server) {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server.address().port;
}

async function freePort() {
  const probe = http.createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** The fake SearXNG upstream (tests/fakes/searxng.py) in a Python child: prints its URL, serves until stdin closes. */
async function fakeSearxng() {
  const script = "import sys\nfrom fakes.searxng import FakeSearxng, serve\nwith serve(FakeSearxng().app()) as url:\n    print(url, flush=True)\n    sys.stdin.read()\n";
  const child = spawn(venvPython, ["-c", script], { cwd: repo, env: { ...process.env, PYTHONPATH: path.join(repo, "tests") }, stdio: ["pipe", "pipe", "inherit"] });
  const url = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`e2e: the fake SearXNG exited with ${code}`)));
  });
  return { url: url.trim(), child };
}

/** Outside readiness with a deadline. */
async function waitFor(what, check, ms = DEADLINE_MS) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`e2e: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const base = await fs.mkdtemp(path.join(os.tmpdir(), "variet-e2e-"));
const workspace = path.join(base, "ws");
const userData = path.join(base, "user");
const extensions = path.join(base, "extensions");
await fs.mkdir(workspace);
await fs.mkdir(path.join(userData, "User"), { recursive: true });
await fs.writeFile(path.join(workspace, "main.py"), "print('helo')\n");
// Six files of 400 lines, about 6,000 tokens each to the fake's /tokenize: together more than the 32k window allows.
for (let i = 0; i < PARTS; i++) {
  const lines = Array.from({ length: 400 }, (_, n) => `part ${i} line ${String(n).padStart(3, "0")}: lorem ipsum dolor sit amet consectetur`);
  await fs.writeFile(path.join(workspace, `part${i}.txt`), `${lines.join("\n")}\n`);
}
// What a cloned repository could carry: it must not switch off the question before a command.
await fs.mkdir(path.join(workspace, ".vscode"));
await fs.writeFile(path.join(workspace, ".vscode", "settings.json"), JSON.stringify({ "variet.approval.command": "auto" }));

const swapd = fakeSwapd();
const swapdPort = await listen(swapd);
const searxng = await fakeSearxng();
await fs.writeFile(path.join(base, "assistant.toml"), `[searxng]\nurl = "${searxng.url}"\n`);
await fs.writeFile(
  path.join(userData, "User", "settings.json"),
  JSON.stringify({
    "variet.serverUrl": `http://127.0.0.1:${swapdPort}`,
    "variet.mcpServers": { searxng: { command: [assistant, "mcp", "searxng", "--config", path.join(base, "assistant.toml")] } },
    "security.workspace.trust.enabled": false,
    "workbench.startupEditor": "none",
  }),
);
// Point code-server's extension gallery at a closed loopback port: this machine has no internet, and the
// test must not look any host up.
const env = { ...process.env, EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: "http://127.0.0.1:9/gallery", itemUrl: "http://127.0.0.1:9/item" }) };
execFileSync(codeServer, ["--user-data-dir", userData, "--extensions-dir", extensions, "--install-extension", vsix], { stdio: "inherit", env });

const port = await freePort();
const server = spawn(
  codeServer,
  ["--auth", "none", "--bind-addr", `127.0.0.1:${port}`, "--user-data-dir", userData, "--extensions-dir", extensions, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", workspace],
  { stdio: "inherit", detached: true, env },
);
let browser;
try {
  await waitFor("code-server", async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-background-networking"] });
  const page = await browser.newPage();
  page.setDefaultTimeout(DEADLINE_MS);
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator(".monaco-workbench").waitFor();
  await page.locator(".notifications-toasts", { hasText: "Variet ignores variet.approval.command" }).waitFor();
  await shot(page, "workspace-setting-ignored");
  await page.locator('.activitybar a.action-label[aria-label="Variet"]').click();
  const chat = page.frameLocator("iframe.webview").frameLocator("iframe");
  await chat.locator("#input").fill("fix the typo in main.py");
  await chat.locator("#input").press("Enter");
  // The model has written only the path so far: the diff is open, no question yet.
  await page.locator(".tab", { hasText: "main.py (proposed edit)" }).waitFor();
  await shot(page, "edit-streaming");
  if (await page.locator('.notifications-toasts .monaco-button:has-text("Accept")').count()) throw new Error("e2e: the edit was asked about before its call was complete");
  releaseEdit();
  await page.locator('.notifications-toasts .monaco-button:has-text("Accept")').waitFor();
  await shot(page, "edit-diff");
  await page.locator('.notifications-toasts .monaco-button:has-text("Accept")').click();
  const modal = page.locator(".monaco-dialog-box", { hasText: "echo ran > ran.txt" });
  await modal.waitFor();
  await chat.locator("#status", { hasText: "waiting for your approval: the command" }).waitFor();
  await shot(page, "command-modal-despite-workspace-auto");
  if (await fs.stat(path.join(workspace, "ran.txt")).then(() => true, () => false)) throw new Error("e2e: the command ran before its question was answered");
  await modal.locator(".monaco-button", { hasText: "Run" }).click();
  await chat.locator("text=Fixed the typo").waitFor();
  await shot(page, "turn-done");
  await chat.locator("summary", { hasText: "✓ edit_file main.py" }).waitFor();
  const text = await fs.readFile(path.join(workspace, "main.py"), "utf8");
  if (text !== "print('hello')\n") throw new Error(`e2e: main.py is ${JSON.stringify(text)} after accepting the edit`);
  if ((await fs.readFile(path.join(workspace, "ran.txt"), "utf8")) !== "ran\n") throw new Error("e2e: the approved command did not run");
  console.log("e2e: agent turn ok (diff open while the edit streamed, approved once complete, file changed, tool cards shown)");
  console.log("e2e: workspace 'variet.approval.command: auto' ignored (warning shown, command asked in a modal)");

  // Checkpoints: the diff of the checkpoint before the edit against now, then restore its files.
  const checkpoint = chat.locator(".checkpoint").first();
  await checkpoint.locator("button", { hasText: "Diff with now" }).click();
  await page.locator(".tab", { hasText: "Checkpoint before edit_file main.py" }).waitFor();
  await page.locator(".view-line", { hasText: "print('hello')" }).first().waitFor();
  await shot(page, "checkpoint-diff-with-now");
  await checkpoint.locator("button", { hasText: "Restore files" }).click();
  await chat.locator("text=Restored the files to before edit_file main.py: 1 put back, 1 removed.").waitFor();
  await shot(page, "checkpoint-restored");
  const restored = await fs.readFile(path.join(workspace, "main.py"), "utf8");
  if (restored !== "print('helo')\n") throw new Error(`e2e: main.py is ${JSON.stringify(restored)} after restoring the checkpoint before the edit`);
  if (await fs.stat(path.join(workspace, "ran.txt")).then(() => true, () => false)) throw new Error("e2e: ran.txt, made after the checkpoint, is still there");
  await chat.locator("button.undo", { hasText: "Undo restore" }).click();
  await waitFor("the undo of the restore", async () => (await fs.readFile(path.join(workspace, "main.py"), "utf8")) === "print('hello')\n");
  if ((await fs.readFile(path.join(workspace, "ran.txt"), "utf8")) !== "ran\n") throw new Error("e2e: undoing the restore did not bring ran.txt back");
  await chat.locator("text=Undid the restore to before edit_file main.py: 2 put back, 0 removed.").waitFor();
  await shot(page, "checkpoint-restore-undone");
  console.log("e2e: checkpoint ok (diff with now opened, restore put main.py back and removed ran.txt, undo brought both back)");

  // Tiers: set the admin token through its command, watch the live state, switch tier from the status bar.
  await page.keyboard.press("F1");
  await page.keyboard.type("Variet: Set Admin Token");
  await page.keyboard.press("Enter");
  await page.locator(".quick-input-widget input[type=password]").fill(ADMIN_TOKEN);
  await page.keyboard.press("Enter");
  const item = page.locator(".statusbar-item", { hasText: "deep loading 40%" });
  await item.waitFor();
  await shot(page, "status-bar");
  await item.click();
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "deep" }).click();
  await waitFor("the swap request", async () => swaps.length > 0);
  if (JSON.stringify(swaps[0]) !== JSON.stringify({ tier: "deep", force: false })) throw new Error(`e2e: swap body ${JSON.stringify(swaps[0])}`);
  console.log("e2e: tiers ok (admin token in SecretStorage, live status 'deep loading 40%', swap posted)");

  // MCP: a web search through the project's searxng server asks first, and its result is shown as untrusted.
  await chat.locator("#new").click();
  await chat.locator("#input").fill("search the web for variet");
  await chat.locator("#input").press("Enter");
  const allow = page.locator(".notifications-toasts .notification-toast", { hasText: "Variet wants to call searxng__web_search" });
  await allow.waitFor();
  await shot(page, "mcp-approval");
  await allow.locator(".monaco-button", { hasText: "Allow" }).click();
  await chat.locator("text=The search found three results.").waitFor();
  const card = chat.locator("details.tool.ok.untrusted", { hasText: "searxng__web_search variet (untrusted content)" });
  await card.locator("summary").click();
  await card.locator("pre.result", { hasText: "Result 0 for variet" }).waitFor();
  await shot(page, "mcp-tool-call");
  console.log("e2e: MCP ok (searxng__web_search asked in a notification, its result shown as untrusted content)");

  // Long task: six big reads outgrow the window; the oldest steps are summarized and the task goes on.
  await chat.locator("#new").click();
  await chat.locator("#input").fill("read every part file");
  await chat.locator("#input").press("Enter");
  await chat.locator("text=Read all six parts.").waitFor();
  const summaryCard = chat.locator("details.summary");
  await summaryCard.locator("summary").first().click();
  await summaryCard.locator("pre", { hasText: "The user's request: read every part file" }).first().waitFor();
  await shot(page, "long-task-summary");
  if (summaryRequests.length === 0) throw new Error("e2e: the long task sent no summary request");
  if (await chat.locator(".error").count()) throw new Error(`e2e: the long task showed an error: ${await chat.locator(".error").first().textContent()}`);
  console.log(`e2e: long task ok (${summaryRequests.length} summary request(s), summary shown, task finished)`);
} finally {
  await browser?.close();
  if (server.pid) process.kill(-server.pid, "SIGTERM");
  swapd.close();
  searxng.child.stdin.end();
  await fs.rm(base, { recursive: true, force: true });
}

"""`swapctl`: the operator's client for swapd's control API (it never imports the supervisor).

Subcommands mirror the control API one to one. `swapctl TIER` is `swapctl swap TIER`. By default it
talks to the local control socket; `--url` and `--token-file` reach a remote swapd's LAN port.
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx

DEFAULT_SOCKET = "/run/swapd/control.sock"
TIMEOUT = httpx.Timeout(30.0, read=None)


class Failure(click.ClickException):
    """Printed as `swapctl: <message>` with exit status 1 (click keeps 2 for usage errors)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"swapctl: {self.message}", err=True)


@dataclass(frozen=True)
class Target:
    socket: str
    url: str | None
    token: str | None

    @property
    def where(self) -> str:
        return self.url or self.socket

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if self.url:
            client = httpx.Client(base_url=self.url.rstrip("/"), headers=headers, timeout=TIMEOUT)
        else:
            transport = httpx.HTTPTransport(uds=self.socket)
            client = httpx.Client(transport=transport, base_url="http://swapd", timeout=TIMEOUT)
        with client:
            try:
                yield client
            except httpx.TransportError as exc:
                hint = (
                    "is swapd running?" if self.url else "is swapd running, and may your user use its socket?"
                )
                raise Failure(f"cannot reach swapd at {self.where}: {exc} ({hint})") from exc


def _check(reply: httpx.Response) -> Any:
    if reply.is_success:
        return reply.json()
    try:
        message = reply.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = reply.text.strip() or reply.reason_phrase
    raise Failure(f"{message} (HTTP {reply.status_code})")


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Parse an SSE stream into (event type, data) pairs."""
    kind = "message"
    for text in lines:
        if text.startswith("event:"):
            kind = text[6:].strip()
        elif text.startswith("data:"):
            yield kind, json.loads(text[5:])
        elif not text:
            kind = "message"


def _emit(data: object) -> None:
    click.echo(json.dumps(data, indent=2))


class TierAsCommand(click.Group):
    """`swapctl deep` is `swapctl swap deep`: an unknown command name is taken as a tier."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            swap_cmd = self.commands["swap"]
            return "swap", swap_cmd, args
        return super().resolve_command(ctx, args)


json_option = click.option("--json", "as_json", is_flag=True, help="Print the control API's JSON answer.")


@click.group(cls=TierAsCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="variet")
@click.option(
    "--socket",
    default=DEFAULT_SOCKET,
    envvar="SWAPCTL_SOCKET",
    show_default=True,
    help="swapd's control socket (env SWAPCTL_SOCKET).",
)
@click.option(
    "--url", envvar="SWAPCTL_URL", help="A remote swapd's LAN URL instead of the socket (env SWAPCTL_URL)."
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SWAPCTL_TOKEN_FILE",
    help="File holding the admin token for --url (env SWAPCTL_TOKEN_FILE).",
)
@click.option(
    "--token", envvar="SWAPCTL_TOKEN", help="The admin token itself (prefer --token-file; env SWAPCTL_TOKEN)."
)
@click.pass_context
def main(
    ctx: click.Context, socket: str, url: str | None, token_file: Path | None, token: str | None
) -> None:
    """Switch, pin and inspect swapd's tiers.

    \b
    Examples:
      swapctl status
      swapctl deep                      # same as: swapctl swap deep
      swapctl --url http://machine-a:8080 --token-file ~/.config/variet/swapd-admin-token status
    """
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise Failure(f"cannot read token file {token_file}: {exc.strerror}") from exc
    ctx.obj = Target(socket, url, token)


@main.command()
@json_option
@click.option("--watch", is_flag=True, help="Then keep printing every state change and swap as it happens.")
@click.pass_obj
def status(target: Target, as_json: bool, watch: bool) -> None:
    """Show the tier, its state, uptime, VRAM per GPU, in-flight requests, the queue and the companions.

    \b
    Example: swapctl status --json
             swapctl status --watch      (Ctrl-C to stop)
    """
    with target.client() as client:
        data = _check(client.get("/swapd/status"))
        if as_json:
            _emit(data)
        else:
            _show_status(data)
        if watch:
            _watch(client, as_json)


def _watch(client: httpx.Client, as_json: bool) -> None:
    with client.stream("GET", "/swapd/events") as stream:
        if not stream.is_success:
            stream.read()
            _check(stream)
        events = _events(stream.iter_lines())
        next(events)  # the state we just printed
        for kind, data in events:
            if as_json:
                click.echo(json.dumps({"event": kind, **data}))
            elif kind == "state":
                progress = f" {data['progress'] * 100:.0f}%" if data.get("progress") is not None else ""
                phase = f" ({data['phase']})" if data.get("phase") else ""
                click.echo(f"{data['state']:<9} {data['message']}{phase}{progress}")
            elif kind == "companion":
                message = f": {data['message']}" if data["message"] else ""
                click.echo(f"companion {data['name']} {data['state']}{message}")
            elif kind == "swap":
                outcome = f"in {data['took_s']:.2f} s" if data["ok"] else f"failed: {data['error']}"
                click.echo(f"swap      {data['from'] or '-'} -> {data['to']} {outcome}")


def _show_status(data: dict[str, Any]) -> None:
    flags = f", pinned to {data['pinned']}" if data.get("pinned") else ""
    click.echo(f"tier       {data['tier'] or '-'} ({data['state']}{flags})")
    click.echo(f"uptime     {data.get('uptime_s') or 0:.0f} s")
    in_flight = ", ".join(f"{k}={v}" for k, v in data["in_flight"].items()) or "none"
    click.echo(f"in flight  {in_flight}")
    click.echo(f"queued     {data['queued']}")
    for gpu in data["gpus"]:
        click.echo(
            f"gpu {gpu['index']}      {gpu['name']}  {gpu['used_mib']}/{gpu['total_mib']} MiB  "
            f"{gpu['util_pct']}%  {gpu['temp_c']}°C"
        )
    if last := data.get("last_swap"):
        phases = ", ".join(f"{k} {v:.2f}" for k, v in last["phases"].items())
        click.echo(f"last swap  {last['from'] or '-'} -> {last['to']} in {last['took_s']:.2f} s ({phases})")
    for c in data.get("companions", []):
        restarts = f", {c['restarts']} restarts" if c["restarts"] else ""
        error = f": {c['error']}" if c["error"] and c["state"] != "ready" else ""
        click.echo(f"companion  {c['name']} ({c['state']}, {c['in_flight']} in flight{restarts}){error}")


@main.command()
@click.option("-n", "--last", default=10, show_default=True, help="How many of the latest swaps to show.")
@json_option
@click.pass_obj
def history(target: Target, last: int, as_json: bool) -> None:
    """Show the latest swaps with their phase timings (swapd keeps the last 50).

    Example: swapctl history -n 5
    """
    with target.client() as client:
        swaps = _check(client.get("/swapd/history"))["swaps"][-last:] if last > 0 else []
    if as_json:
        _emit(swaps)
        return
    for s in swaps:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["at"]))
        phases = ", ".join(f"{k} {v:.2f}" for k, v in s["phases"].items())
        outcome = (
            f"{s['took_s']:.2f} s ({phases})"
            if s["ok"]
            else f"failed after {s['took_s']:.2f} s: {s['error']}"
        )
        click.echo(f"{when}  {s['from'] or '-'} -> {s['to']}  {outcome}")


@main.command()
@json_option
@click.pass_obj
def tiers(target: Target, as_json: bool) -> None:
    """List the configured tiers with their aliases and state.

    Example: swapctl tiers
    """
    with target.client() as client:
        data = _check(client.get("/swapd/tiers"))
    if as_json:
        _emit(data)
        return
    for tier in data:
        aliases = f" (aliases: {', '.join(tier['aliases'])})" if tier["aliases"] else ""
        click.echo(
            f"{tier['name']:<10} {tier['state']:<9} ctx {tier['ctx_size']:<7} {tier['vram_mib']} MiB{aliases}"
        )


def _follow_swap(client: httpx.Client, path: str, body: dict[str, object], tier: str, as_json: bool) -> None:
    """Post a swap-like command, then show progress from the event stream until the tier is ready."""
    with client.stream("GET", "/swapd/events") as stream:
        if not stream.is_success:
            stream.read()
            _check(stream)
        events = _events(stream.iter_lines())
        next(events)  # the current state: from here on nothing is missed
        answer = _check(client.post(path, json=body))
        if answer["state"] == "ready":
            _emit(answer) if as_json else click.echo(f"{tier} is ready")
            return
        for kind, data in events:
            if kind == "state" and not as_json:
                click.echo(
                    f"  {data['message']}" + (f" ({data['phase']})" if data.get("phase") else ""), err=True
                )
            elif kind == "swap" and data["to"] == tier:
                if as_json:
                    _emit(data)
                if not data["ok"]:
                    raise Failure(f"swap to {tier} failed: {data['error']}")
                if not as_json:
                    click.echo(f"{tier} ready in {data['took_s']:.1f} s")
                return
    raise Failure("swapd closed the event stream before the swap ended (is it shutting down?)")


@main.command()
@click.argument("tier")
@click.option("--force", is_flag=True, help="Cancel the old tier's requests instead of waiting for them.")
@click.option("--no-wait", is_flag=True, help="Return once swapd accepted the swap.")
@json_option
@click.pass_obj
def swap(target: Target, tier: str, force: bool, no_wait: bool, as_json: bool) -> None:
    """Swap to TIER and show progress until it is ready; exits 1 with the reason if it fails.

    Requests running on the old tier finish first, however long they take, unless --force
    (or the config's drain_grace_s) cancels them.

    \b
    Example: swapctl swap deep      (or just: swapctl deep)
             swapctl swap fast --force
    """
    with target.client() as client:
        body: dict[str, object] = {"tier": tier, "force": force}
        if no_wait:
            answer = _check(client.post("/swapd/swap", json=body))
            _emit(answer) if as_json else click.echo(answer["message"])
            return
        _follow_swap(client, "/swapd/swap", body, tier, as_json)


@main.command()
@click.argument("tier")
@json_option
@click.pass_obj
def pin(target: Target, tier: str, as_json: bool) -> None:
    """Pin TIER: swap to it if needed and serve every request with it until `swapctl unpin`.

    Example: swapctl pin balanced
    """
    with target.client() as client:
        _follow_swap(client, "/swapd/pin", {"tier": tier}, tier, as_json)


@main.command("prewarm")
@click.argument("tier")
@json_option
@click.pass_obj
def prewarm_tier(target: Target, tier: str, as_json: bool) -> None:
    """Read TIER's model file into the page cache now, so a later swap to it loads from RAM.

    Example: swapctl prewarm deep
    """
    with target.client() as client:
        answer = _check(client.post("/swapd/prewarm", json={"tier": tier}))
    if as_json:
        _emit(answer)
    else:
        click.echo(
            f"{tier}: {answer['bytes'] / 2**20:.0f} MiB in the page cache after {answer['took_s']:.1f} s"
        )


@main.command()
@json_option
@click.pass_obj
def unpin(target: Target, as_json: bool) -> None:
    """Let requests pick their tier again (with the on_demand policy).

    Example: swapctl unpin
    """
    with target.client() as client:
        answer = _check(client.post("/swapd/unpin", json={}))
    _emit(answer) if as_json else click.echo(answer["message"])


@main.command()
@json_option
@click.pass_obj
def unload(target: Target, as_json: bool) -> None:
    """Stop llama-server after in-flight requests finish; queued requests are refused.

    Example: swapctl unload
    """
    with target.client() as client:
        answer = _check(client.post("/swapd/unload", json={}))
    _emit(answer) if as_json else click.echo(answer["message"])


@main.command()
@click.option("-n", "--tail", default=200, show_default=True, help="How many of the last lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as llama-server writes them.")
@click.option("--companion", help="A companion's llama-server instead of the tier's.")
@json_option
@click.pass_obj
def logs(target: Target, tail: int, follow: bool, companion: str | None, as_json: bool) -> None:
    """Print llama-server's recent output (swapd keeps it in a ring buffer).

    \b
    Example: swapctl logs -n 50 -f
             swapctl logs --companion fim
    """
    params: dict[str, str | int] = {"tail": tail}
    if companion is not None:
        params["companion"] = companion
    with target.client() as client:
        if not follow:
            data = _check(client.get("/swapd/logs", params=params))
            _emit(data) if as_json else click.echo("\n".join(data["lines"]))
            return
        with client.stream("GET", "/swapd/logs", params={**params, "follow": 1}) as stream:
            if not stream.is_success:
                stream.read()
                _check(stream)
            for _, data in _events(stream.iter_lines()):
                click.echo(json.dumps(data) if as_json else data["line"])

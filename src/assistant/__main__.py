"""`assistant`: the command line for Machine B (`python -m assistant` is the same)."""

import asyncio
import logging
import sys
from pathlib import Path

import click

from assistant.servers.cli import auth, mcp


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="variet")
def main() -> None:
    """Variet's assistant: chat, Discord bot and MCP tool servers."""


DEFAULT_CONFIG = Path("~/.config/variet/assistant.toml")


@main.command()
@click.option("--config", "config_path", type=Path, default=DEFAULT_CONFIG, show_default=True)
def chat(config_path: Path) -> None:
    """Chat in the terminal with the agent and its tools.

    Example: assistant chat --config examples/assistant-demo.toml
    """
    from assistant.chat import chat as run_chat
    from assistant.config import load_config
    from assistant.errors import AssistantError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    try:
        config = load_config(config_path.expanduser())
        code = asyncio.run(run_chat(config, sys.stdin, sys.stdout, tty=sys.stdout.isatty()))
    except AssistantError as exc:
        click.echo(f"assistant: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code)


@main.command("check-config")
@click.argument("config_path", type=Path)
def check_config(config_path: Path) -> None:
    """Validate an assistant.toml; one line naming the first bad field on error.

    Example: assistant check-config /etc/variet/assistant.toml
    """
    from assistant.config import load_config
    from assistant.errors import ConfigError

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        click.echo(f"assistant: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{config_path}: ok ({len(config.mcp.servers)} tool servers)")


main.add_command(mcp)
main.add_command(auth)


@main.command("discord")
@click.option("--config", "config_path", type=Path, default=DEFAULT_CONFIG, show_default=True)
@click.option("--debug", is_flag=True, help="Log at debug level; message bodies then reach the log.")
def discord_bot(config_path: Path, debug: bool) -> None:
    """Run the Discord bot: the owner's DMs, @mentions in allowed channels, and their threads.

    Example: assistant discord --config ~/.config/variet/assistant.toml
    """
    from assistant.config import load_config
    from assistant.discord_bot.bot import run
    from assistant.errors import AssistantError

    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO, format="%(levelname)s %(name)s %(message)s"
    )
    if not debug:
        logging.getLogger("discord").setLevel(logging.WARNING)
    try:
        config = load_config(config_path.expanduser())
        asyncio.run(run(config, config.discord))
    except AssistantError as exc:
        click.echo(f"assistant: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

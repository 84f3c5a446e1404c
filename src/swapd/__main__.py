"""`swapd`: the daemon's command line (`python -m swapd` is the same)."""

import asyncio
import shlex
import sys
from pathlib import Path

import click

from swapd import config as configuration
from swapd.errors import SwapdError

CONFIG = click.Path(exists=False, dir_okay=False, path_type=Path)


def fail(exc: SwapdError) -> None:
    for text in str(exc).splitlines():
        click.echo(f"swapd: {text}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="variet")
def main() -> None:
    """swapd owns llama-server on Machine A and hot-swaps model tiers behind one endpoint."""


@main.command()
@click.option("--config", "config_path", type=CONFIG, required=True, help="swapd TOML config file.")
def serve(config_path: Path) -> None:
    """Run the daemon: the LAN port, the control socket and one llama-server.

    Example: swapd serve --config examples/swapd-demo.toml
    """
    from swapd.app import serve as run  # the server stack is only needed here

    try:
        run(configuration.load(config_path))
    except SwapdError as exc:
        fail(exc)


def warn(text: str) -> None:
    click.echo(f"swapd: warning: {text}", err=True)


@main.command("check-config")
@click.argument("config_path", type=CONFIG)
def check_config(config_path: Path) -> None:
    """Validate a config file and print each tier's and companion's llama-server command line.

    \b
    Warns (exit status 0) about a companion whose model file is missing, and about a tier that
    cannot fit beside all companions on the GPUs the configured probe sees.
    Example: swapd check-config /etc/swapd/swapd.toml
    """
    try:
        config = configuration.load(config_path)
        for tier in config.tiers:
            argv = configuration.command(config, tier, "PORT")
            click.echo(f"{tier.name}: {shlex.join(argv)}")
        for companion in config.companions:
            argv = configuration.companion_command(config, companion, "PORT")
            env = " ".join(f"{k}={v}" for k, v in configuration.companion_env(companion).items())
            click.echo(f"companion {companion.name}: {env + ' ' if env else ''}{shlex.join(argv)}")
            path = configuration.model_path(companion)
            if not path.is_file():
                warn(f"companion {companion.name!r}: model file {path} does not exist; it will not start")
    except SwapdError as exc:
        fail(exc)
    _check_vram(config)


def _check_vram(config: configuration.Config) -> None:
    """Tier plus companions against the GPUs' memory, as the configured probe reports it."""
    from swapd.gpu import overcommitted, read_once  # pynvml only where it is used

    try:
        gpus = asyncio.run(read_once(config.gpu))
    except SwapdError as exc:
        if config.companions:
            warn(f"VRAM not checked: {exc}")
        return
    for problem in overcommitted(config, gpus):
        warn(problem)


if __name__ == "__main__":
    main()

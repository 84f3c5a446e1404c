"""`swapd`: the daemon's command line (`python -m swapd` is the same)."""

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


@main.command("check-config")
@click.argument("config_path", type=CONFIG)
def check_config(config_path: Path) -> None:
    """Validate a config file and print each tier's llama-server command line.

    Example: swapd check-config /etc/swapd/swapd.toml
    """
    try:
        config = configuration.load(config_path)
        for tier in config.tiers:
            argv = configuration.command(config, tier, "PORT")
            click.echo(f"{tier.name}: {shlex.join(argv)}")
    except SwapdError as exc:
        fail(exc)


if __name__ == "__main__":
    main()

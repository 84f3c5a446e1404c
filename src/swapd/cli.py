"""`swapctl`: the operator's client for swapd's control API."""

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="variet")
def main() -> None:
    """Switch, pin and inspect swapd's tiers."""

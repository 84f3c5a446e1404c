"""`swapd`: the daemon's command line (`python -m swapd` is the same)."""

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="variet")
def main() -> None:
    """swapd owns llama-server on Machine A and hot-swaps model tiers behind one endpoint."""


if __name__ == "__main__":
    main()

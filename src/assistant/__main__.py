"""`assistant`: the command line for Machine B (`python -m assistant` is the same)."""

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="variet")
def main() -> None:
    """Variet's assistant: chat, Discord bot and MCP tool servers."""


if __name__ == "__main__":
    main()

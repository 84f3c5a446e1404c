"""Which attachments reach the model: text only, within a size cap, never fetched otherwise."""

import discord

# Text formats Discord labels without a text/* content type.
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-yaml", "application/toml"})


def is_text(attachment: discord.Attachment) -> bool:
    """True for text/* and a few text formats labelled as application/*."""
    content_type = (attachment.content_type or "").split(";")[0].strip().lower()
    return content_type.startswith("text/") or content_type in _TEXT_TYPES


async def read_text(message: discord.Message, max_bytes: int) -> tuple[list[str], list[str]]:
    """The message's text attachments as labelled blocks, and a warning for each one left out."""
    blocks: list[str] = []
    warnings: list[str] = []
    for attachment in message.attachments:
        name = attachment.filename
        if not is_text(attachment):
            warnings.append(f"skipped {name}: only text attachments are read")
        elif attachment.size > max_bytes:
            warnings.append(f"skipped {name}: {attachment.size} bytes is over the {max_bytes}-byte limit")
        else:
            try:
                data = await attachment.read()
            except discord.HTTPException:
                warnings.append(f"skipped {name}: Discord did not serve it")
                continue
            text = data[:max_bytes].decode("utf-8", errors="replace")
            blocks.append(f'<attachment name="{name}">\n{text}\n</attachment>')
    return blocks, warnings

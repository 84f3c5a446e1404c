"""A copy of the tiny model whose GGUF metadata declares fill-in-the-middle token ids.

SmolLM2 has no FIM tokens, so llama-server answers its `/infill` with 501 "Infill is not supported by
this model". The copy names three of its unused control tokens as the FIM prefix, suffix and middle
tokens (`tokenizer.ggml.fim_{pre,suf,mid}_token_id`, the keys llama.cpp's src/llama-arch.cpp reads),
so the real `/infill` path runs end to end. What it writes is meaningless; the wire path is the point.
Made with `gguf`, llama.cpp's own GGUF reader and writer, by the function its `gguf-new-metadata`
script uses.

Run as a script (`python tests/fim_model.py OUT.gguf`) for the extension's tests.
"""

import logging
import sys
from pathlib import Path

import gguf
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

from swapd import bundled

# Control tokens of SmolLM2's vocabulary that chat never uses.
FIM_TOKENS = {"fim_pre": "<jupyter_start>", "fim_suf": "<jupyter_text>", "fim_mid": "<jupyter_code>"}


def make_fim_copy(dest: Path) -> Path:
    """Write the copy to `dest` (once; an existing file is kept) and return its path."""
    if dest.is_file():
        return dest
    reader = gguf.GGUFReader(bundled.tiny_model(), "r")
    tokens = reader.get_field(gguf.Keys.Tokenizer.LIST)
    assert tokens is not None, "the tiny model has no token list"
    vocab: list[str] = tokens.contents()
    metadata = {
        f"tokenizer.ggml.{role}_token_id": MetadataDetails(gguf.GGUFValueType.UINT32, vocab.index(text))
        for role, text in FIM_TOKENS.items()
    }
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    assert arch is not None
    partial = dest.with_suffix(".partial")
    writer = gguf.GGUFWriter(partial, arch=arch.contents(), endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    logging.getLogger("gguf-new-metadata").setLevel(logging.WARNING)
    copy_with_new_metadata(reader, writer, metadata, [])
    partial.replace(dest)
    return dest


if __name__ == "__main__":
    print(make_fim_copy(Path(sys.argv[1])))

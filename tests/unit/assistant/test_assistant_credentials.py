"""Secrets come from a systemd credential or an owner-only file, and bad ones fail with the fix."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.credentials import read_secret
from assistant.errors import CredentialFileTooOpen, CredentialMissing


def _secret_file(tmp_path: Path, mode: int, text: str = "s3cret\n") -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_owner_only_file_is_read_and_stripped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert read_secret("discord-token", _secret_file(tmp_path, 0o600)) == "s3cret"


@given(mode=st.integers(min_value=0o001, max_value=0o077))
def test_any_group_or_other_bit_is_refused(mode: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = _secret_file(Path(tmp), 0o600 | mode)
        with pytest.raises(CredentialFileTooOpen, match=r"chmod 600"):
            read_secret("t", path)


def test_systemd_credential_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api-key").write_text("from-systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert read_secret("api-key", _secret_file(tmp_path, 0o600)) == "from-systemd"


def test_missing_and_empty_secrets_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(CredentialMissing, match="mode 0600"):
        read_secret("t", tmp_path / "absent")
    with pytest.raises(CredentialMissing, match="not configured"):
        read_secret("t", None)
    with pytest.raises(CredentialMissing, match="empty"):
        read_secret("t", _secret_file(tmp_path, 0o600, text="\n"))

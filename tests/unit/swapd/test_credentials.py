"""Secrets come from 0600 files or systemd credentials, and a readable file is refused with the fix."""

from pathlib import Path

import pytest

from swapd.credentials import read_secret
from swapd.errors import CredentialError


def test_owner_only_file_is_read_and_stripped(tmp_path: Path) -> None:
    key = tmp_path / "api-key"
    key.write_text("sk-local\n")
    key.chmod(0o600)
    assert read_secret(str(key)) == "sk-local"


def test_group_readable_file_is_refused_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    key = tmp_path / "api-key"
    key.write_text("sk-local")
    key.chmod(0o640)
    with pytest.raises(CredentialError, match=r"mode 0640; run `chmod 600 .*api-key`"):
        read_secret(str(key))


def test_bare_name_is_a_systemd_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "api-key").write_text("sk-cred")
    (tmp_path / "api-key").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert read_secret("api-key") == "sk-cred"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(CredentialError, match=r"\$CREDENTIALS_DIRECTORY is not set"):
        read_secret("api-key")


def test_missing_and_empty_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="cannot read"):
        read_secret(str(tmp_path / "absent"))
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "empty").chmod(0o600)
    with pytest.raises(CredentialError, match="is empty"):
        read_secret(str(tmp_path / "empty"))

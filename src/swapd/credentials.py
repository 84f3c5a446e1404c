"""Read secrets (API keys, the admin token) from 0600 files or systemd credentials, never config values."""

import os
import stat
from pathlib import Path

from swapd.errors import CredentialError


def secret_path(ref: str) -> Path:
    """A reference containing '/' is a file path; a bare name is `$CREDENTIALS_DIRECTORY/<name>`."""
    if "/" in ref:
        return Path(ref)
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise CredentialError(
            f"credential {ref!r}: $CREDENTIALS_DIRECTORY is not set (give a file path instead)"
        )
    return Path(directory) / ref


def read_secret(ref: str) -> str:
    """The stripped contents of a secret file; refuses files that group or others can read."""
    path = secret_path(ref)
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialError(f"secret file {path}: cannot read: {exc.strerror}") from exc
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise CredentialError(f"secret file {path} has mode {mode:04o}; run `chmod 600 {path}`")
    if not text:
        raise CredentialError(f"secret file {path} is empty")
    return text

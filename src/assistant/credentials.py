"""Read secrets from systemd credentials or from 0600 files, never from config text or the environment.

A secret is named in config by a file path or by a credential name. Under systemd, `LoadCredential=`
places credentials in `$CREDENTIALS_DIRECTORY/<name>` (read-only, owner-only), which wins over a path.
"""

import os
import stat
from pathlib import Path

from assistant.errors import CredentialFileTooOpen, CredentialMissing


def credential_path(name: str) -> Path | None:
    """The systemd credential `name`, when the service was started with one."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / name
    return path if path.is_file() else None


def check_private(path: Path) -> None:
    """Refuse a secret file that group or others can read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialFileTooOpen(
            f"{path} has mode {stat.S_IMODE(mode):04o}; secrets must be owner-only: chmod 600 {path}"
        )


def read_secret(name: str, path: Path | None, fix: str = "") -> str:
    """The secret called `name`: its systemd credential if present, else the 0600 file at `path`.

    `fix` is what a missing or empty secret's error tells the user to do, when a caller knows better
    than the generic advice (which config key, which command comes next).
    """
    from_systemd = credential_path(name)
    if from_systemd is not None:
        source = from_systemd
    elif path is not None:
        source = path.expanduser()
        if not source.is_file():
            raise CredentialMissing(
                f"secret {name!r}: no file at {source}; {fix or 'create it with mode 0600'}"
            )
        check_private(source)
    else:
        raise CredentialMissing(
            f"secret {name!r} is not configured: {fix or 'set its file path or a systemd credential'}"
        )
    value = source.read_text(encoding="utf-8").strip()
    if not value:
        raise CredentialMissing(f"secret {name!r}: {source} is empty" + (f"; {fix}" if fix else ""))
    return value

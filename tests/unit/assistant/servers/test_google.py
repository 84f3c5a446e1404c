"""The Google token on disk, its refresh, least-privilege scopes and the consent flow's parameters."""

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import google_api as g
from google.oauth2.credentials import Credentials

from assistant.errors import ConfigError, CredentialFileTooOpen, CredentialMissing, GoogleAuthRequired
from assistant.servers.google import (
    CALENDAR_READ,
    CALENDAR_WRITE,
    GMAIL_COMPOSE,
    GMAIL_MODIFY,
    GMAIL_READ,
    SavedCredentials,
    TokenStore,
    calendar_scopes,
    gmail_scopes,
)
from assistant.servers.google_auth import authorize, requested_scopes
from assistant.servers.settings import CalendarSettings, GmailSettings, GoogleSettings

CLIENT = {"installed": {"client_id": "id.apps.googleusercontent.com", "client_secret": "SENTINEL-SECRET"}}


def google_settings(tmp_path: Path) -> GoogleSettings:
    secret = tmp_path / "client.json"
    secret.write_text(json.dumps(CLIENT))
    secret.chmod(0o600)
    return GoogleSettings(client_secret_file=secret, state_dir=tmp_path / "state")


def credentials(scopes: tuple[str, ...], expired: bool = False) -> Credentials:
    expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=-1 if expired else 1)
    return Credentials(  # type: ignore[no-untyped-call]
        token="ya29.old",
        refresh_token="1//refresh",
        token_uri="https://oauth2.googleapis.com/token",
        client_id="id.apps.googleusercontent.com",
        client_secret="SENTINEL-SECRET",
        scopes=list(scopes),
        expiry=expiry,
    )


@pytest.fixture(autouse=True)
def _no_systemd_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


def test_least_privilege_scopes() -> None:
    assert calendar_scopes(CalendarSettings(read_only=True)) == CALENDAR_READ
    assert calendar_scopes(CalendarSettings(read_only=False)) == CALENDAR_WRITE
    assert calendar_scopes(CalendarSettings(enabled=False)) == ()
    assert gmail_scopes(GmailSettings()) == GMAIL_READ
    assert gmail_scopes(GmailSettings(read_only=False)) == GMAIL_READ + GMAIL_COMPOSE
    assert (
        gmail_scopes(GmailSettings(read_only=False, labels=True)) == GMAIL_READ + GMAIL_COMPOSE + GMAIL_MODIFY
    )
    assert requested_scopes(CalendarSettings(enabled=False), GmailSettings()) == list(GMAIL_READ)


def test_token_is_saved_owner_only_without_the_client_secret(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "state")
    store.save(credentials(GMAIL_READ))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    saved = store.path.read_text()
    assert "SENTINEL-SECRET" not in saved
    assert json.loads(saved)["refresh_token"] == "1//refresh"


def test_a_token_others_can_read_is_refused(tmp_path: Path) -> None:
    settings = google_settings(tmp_path)
    store = TokenStore(settings.state_dir)
    store.save(credentials(GMAIL_READ))
    store.path.chmod(0o644)
    with pytest.raises(CredentialFileTooOpen, match="chmod 600"):
        SavedCredentials(settings, GMAIL_READ, lambda: g.mock())()


def test_no_token_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(GoogleAuthRequired, match="run `assistant auth google`"):
        SavedCredentials(google_settings(tmp_path), GMAIL_READ, lambda: g.mock())()


def test_a_token_without_a_newly_enabled_scope_asks_for_consent_again(tmp_path: Path) -> None:
    settings = google_settings(tmp_path)
    TokenStore(settings.state_dir).save(credentials(GMAIL_READ))
    with pytest.raises(
        GoogleAuthRequired, match=r"lacks the scope gmail\.compose; run `assistant auth google`"
    ):
        SavedCredentials(settings, GMAIL_READ + GMAIL_COMPOSE, lambda: g.mock())()


def test_an_expired_token_is_refreshed_and_saved(tmp_path: Path) -> None:
    settings = google_settings(tmp_path)
    store = TokenStore(settings.state_dir)
    store.save(credentials(GMAIL_READ, expired=True))
    http = g.mock(g.token_refreshed("ya29.new", GMAIL_READ[0]))
    fresh = SavedCredentials(settings, GMAIL_READ, lambda: http)()
    assert fresh.token == "ya29.new"
    assert json.loads(store.path.read_text())["token"] == "ya29.new"
    assert http.request_sequence[0][0] == "https://oauth2.googleapis.com/token"


def test_a_revoked_refresh_token_names_the_command(tmp_path: Path) -> None:
    settings = google_settings(tmp_path)
    TokenStore(settings.state_dir).save(credentials(GMAIL_READ, expired=True))
    with pytest.raises(GoogleAuthRequired, match="expired or revoked; run `assistant auth google`"):
        SavedCredentials(settings, GMAIL_READ, lambda: g.mock(g.token_revoked()))()


def test_a_client_secret_that_is_not_a_desktop_client_is_explained(tmp_path: Path) -> None:
    settings = google_settings(tmp_path)
    assert settings.client_secret_file is not None
    settings.client_secret_file.write_text('{"web": {"client_id": "x", "client_secret": "y"}}')
    TokenStore(settings.state_dir).save(credentials(GMAIL_READ))
    with pytest.raises(ConfigError, match="Desktop app"):
        SavedCredentials(settings, GMAIL_READ, lambda: g.mock())()


@pytest.mark.parametrize("where", ["unset", "absent", "empty"])
def test_issue_13_a_missing_client_secret_names_the_key_and_the_command(tmp_path: Path, where: str) -> None:
    secret = {"unset": None, "absent": tmp_path / "absent.json", "empty": tmp_path / "empty.json"}[where]
    if where == "empty":
        assert secret is not None
        secret.write_text("\n")
        secret.chmod(0o600)
    settings = GoogleSettings(client_secret_file=secret, state_dir=tmp_path / "state")
    with pytest.raises(CredentialMissing) as caught:
        SavedCredentials(settings, GMAIL_READ, lambda: g.mock())()
    message = str(caught.value)
    assert "[google] client_secret_file" in message and "`assistant auth google`" in message
    assert "\n" not in message
    with pytest.raises(CredentialMissing, match=r"\[google\] client_secret_file"):
        authorize(settings, CalendarSettings(), GmailSettings(), port=0, flow_factory=FakeFlow)


class FakeFlow:
    """Stands in for InstalledAppFlow: records how it was run and hands back credentials."""

    def __init__(self, client: dict[str, Any], scopes: list[str]) -> None:
        self.client, self.scopes = client, scopes
        self.run_with: dict[str, Any] = {}

    def run_local_server(self, **kwargs: Any) -> Credentials:
        self.run_with = kwargs
        return credentials(tuple(self.scopes))


def test_authorize_asks_only_for_enabled_scopes_on_loopback_without_a_browser(tmp_path: Path) -> None:
    flows: list[FakeFlow] = []

    def factory(client: dict[str, Any], scopes: list[str]) -> FakeFlow:
        flows.append(FakeFlow(client, scopes))
        return flows[-1]

    settings = google_settings(tmp_path)
    path = authorize(
        settings, CalendarSettings(read_only=True), GmailSettings(), port=8765, flow_factory=factory
    )
    (flow,) = flows
    assert flow.scopes == sorted(CALENDAR_READ + GMAIL_READ)
    assert flow.client["installed"]["client_id"] == "id.apps.googleusercontent.com"
    assert flow.run_with["bind_addr"] == "127.0.0.1"
    assert flow.run_with["open_browser"] is False
    assert flow.run_with["port"] == 8765
    assert "ssh -N -L 8765:127.0.0.1:8765" in flow.run_with["authorization_prompt_message"]
    assert "{url}" in flow.run_with["authorization_prompt_message"]
    assert path == settings.state_dir / "google-token.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_authorize_with_everything_disabled_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to authorize"):
        authorize(
            google_settings(tmp_path),
            CalendarSettings(enabled=False),
            GmailSettings(enabled=False),
            port=8765,
            flow_factory=FakeFlow,
        )


def test_a_new_token_on_disk_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    settings = google_settings(tmp_path)
    store = TokenStore(settings.state_dir)
    store.save(credentials(GMAIL_READ))
    source = SavedCredentials(settings, GMAIL_READ + GMAIL_COMPOSE, lambda: g.mock())
    with pytest.raises(GoogleAuthRequired, match=r"gmail\.compose"):
        source()
    store.save(credentials(GMAIL_READ + GMAIL_COMPOSE))  # what `assistant auth google` does
    assert source().has_scopes(list(GMAIL_COMPOSE))


def test_a_token_given_as_a_systemd_credential_is_used_and_refreshes_into_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = google_settings(tmp_path)
    made_elsewhere = TokenStore(tmp_path / "admin")
    made_elsewhere.save(credentials(GMAIL_READ, expired=True))
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "google-token").write_text(made_elsewhere.path.read_text())
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    http = g.mock(g.token_refreshed("ya29.fresh", GMAIL_READ[0]))
    source = SavedCredentials(settings, GMAIL_READ, lambda: http)
    assert source().token == "ya29.fresh"
    assert json.loads((settings.state_dir / "google-token.json").read_text())["token"] == "ya29.fresh"
    assert source().token == "ya29.fresh"
    assert len(http.request_sequence) == 1

"""Each server's section of assistant.toml: defaults, one-line errors naming the field, no inline secrets."""

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.servers.settings import (
    CalendarSettings,
    GmailSettings,
    GoogleSettings,
    SearxngSettings,
    load_section,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "assistant.toml"
    path.write_text(text)
    return path


def test_no_file_and_no_section_give_the_defaults(tmp_path: Path) -> None:
    assert load_section(None, "gmail", GmailSettings) == GmailSettings()
    assert (
        load_section(write(tmp_path, "[llm]\nurl = 'x'\n"), "searxng", SearxngSettings) == SearxngSettings()
    )
    assert GmailSettings().read_only is True and GmailSettings().allowed_recipients == ()


def test_a_section_is_read_and_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[gmail]\nread_only = false\nsend = true\nallowed_recipients = ["Ann@Example.com", "@Team.example"]\n'
        '[searxng]\nfetch_allow_networks = ["192.168.1.0/24"]\n[calendar]\ntimezone = "Europe/Berlin"\n',
    )
    gmail = load_section(path, "gmail", GmailSettings)
    assert gmail.allowed_recipients == ("ann@example.com", "@team.example")
    assert str(load_section(path, "searxng", SearxngSettings).fetch_allow_networks[0]) == "192.168.1.0/24"
    assert load_section(path, "calendar", CalendarSettings).timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "name", "model", "complaint"),
    [
        (
            "[gmail]\nallowed_recipients = ['not an address']\n",
            "gmail",
            GmailSettings,
            "gmail.allowed_recipients.0",
        ),
        ("[gmail]\nlabels = true\n", "gmail", GmailSettings, "need gmail.read_only = false"),
        ("[calendar]\ntimezone = 'Mars/Olympus'\n", "calendar", CalendarSettings, "unknown IANA timezone"),
        ("[google]\nclient_secret = 'GOCSPX-abc'\n", "google", GoogleSettings, "google.client_secret"),
        (
            "[searxng]\nfetch_allow_networks = ['10.0.0.1/8']\n",
            "searxng",
            SearxngSettings,
            "fetch_allow_networks",
        ),
        ("[searxng]\nurl = 'not a url'\n", "searxng", SearxngSettings, "searxng.url"),
        ("[searxng]\nurl = 'http://me:pw@127.0.0.1'\n", "searxng", SearxngSettings, "user name or password"),
        ("[google]\nclient_secret_credential = '../x'\n", "google", GoogleSettings, "secret_credential"),
        ("[searxng\n", "searxng", SearxngSettings, "invalid TOML"),
        ("searxng = 3\n", "searxng", SearxngSettings, "must be a table"),
    ],
)
def test_bad_values_name_the_field(
    tmp_path: Path, text: str, name: str, model: type[GmailSettings], complaint: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_section(write(tmp_path, text), name, model)
    message = str(raised.value)
    assert complaint in message and "\n" not in message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_section(tmp_path / "nope.toml", "gmail", GmailSettings)


def test_the_state_dir_follows_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/variet")
    assert GoogleSettings().state_dir == Path("/var/lib/variet")


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path, '[google]\nclient_secret_file = "secrets/client.json"\nstate_dir = "~/state"\n')
    google = load_section(path, "google", GoogleSettings)
    assert google.client_secret_file == tmp_path / "secrets" / "client.json"
    assert google.state_dir == tmp_path / "home" / "state"

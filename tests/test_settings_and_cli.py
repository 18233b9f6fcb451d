"""Settings fail at start with one line naming the variable; the CLI shows what Slack would show."""

from __future__ import annotations

import pytest

from bot import cli
from bot.settings import Settings, SettingsError
from store.db import normalize_url


def test_defaults_need_nothing():
    s = Settings.from_env({})
    assert s.database_url == "sqlite:///roadmap.db" and s.timezone == "America/New_York"
    assert s.slack_api_url == "https://slack.com/api/" and s.editors == ()


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"ROADMAP_EDITOR": "U1"}, "ROADMAP_EDITOR"),
        ({"ROADMAP_TIMEZONE": "Mars/Olympus"}, "ROADMAP_TIMEZONE"),
        ({"ROADMAP_EDITORS": "alice"}, "ROADMAP_EDITORS"),
        ({"ROADMAP_STALE_DAYS": "soon"}, "ROADMAP_STALE_DAYS"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
        ({"ROADMAP_BASE_URL": "roadmap.example.org"}, "ROADMAP_BASE_URL"),
        ({"ROADMAP_BASE_URL": "https://roadmap.example.org/roadmap"}, "ROADMAP_BASE_URL"),
        ({"ROADMAP_BASE_URL": "https://roadmap.example.org/?x=1"}, "ROADMAP_BASE_URL"),
        ({"SLACK_AUTHORIZE_URL": "slack.com/openid"}, "SLACK_AUTHORIZE_URL"),
        ({"ROADMAP_WATCH_ALLOW_PRIVATE": "maybe"}, "ROADMAP_WATCH_ALLOW_PRIVATE"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_the_variable(env, variable):
    with pytest.raises(SettingsError) as e:
        Settings.from_env(env)
    assert variable in str(e.value) and "\n" not in str(e.value)


def test_the_web_pages_need_sign_in_with_slack_and_a_base_url():
    env = {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "ROADMAP_BASE_URL": "https://roadmap.example.org/"}
    s = Settings.from_env(env)
    assert s.web_pages_enabled and s.roadmap_base_url == "https://roadmap.example.org"
    assert s.slack_authorize_url == "https://slack.com/openid/connect/authorize"
    for missing in env:
        assert not Settings.from_env({k: v for k, v in env.items() if k != missing}).web_pages_enabled


def test_source_watch_refuses_internal_addresses_unless_the_operator_allows_them():
    assert Settings.from_env({}).watch_allow_private is False
    assert Settings.from_env({"ROADMAP_WATCH_ALLOW_PRIVATE": "1"}).watch_allow_private is True
    assert Settings.from_env({"ROADMAP_WATCH_ALLOW_PRIVATE": "0"}).watch_allow_private is False


def test_serving_requires_the_slack_secrets():
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"}).require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")


def test_api_url_gets_the_trailing_slash_urljoin_needs():
    assert Settings.from_env({"SLACK_API_URL": "http://127.0.0.1:9/api"}).slack_api_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///roadmap.db", "sqlite:///roadmap.db"),
    ],
)
def test_heroku_style_urls_use_psycopg3(url, expected):
    assert normalize_url(url) == expected


@pytest.fixture
def local_env(tmp_path, monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith(("ROADMAP_", "SLACK_")) or k == "DATABASE_URL":
            monkeypatch.delenv(k)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return tmp_path


def test_ask_status_prints_the_seeded_roadmap_on_first_run(local_env, capsys):
    assert cli.main(["ask", "status"]) == 0
    out = capsys.readouterr().out
    assert "U.S.–Belarus normalisation roadmap" in out
    for title in ("Security cooperation", "Humanitarian", "Poland and Lithuania", "Ukraine", "diplomatic"):
        assert title.lower() in out.lower()
    assert "&lt;" not in out and "<https" not in out  # terminal text, not mrkdwn


def test_ask_json_prints_the_block_kit_payload(local_env, capsys):
    import json

    from tests.blockkit import assert_valid_message

    assert cli.main(["ask", "--json", "status", "security"]) == 0
    assert_valid_message(json.loads(capsys.readouterr().out))


def test_ask_with_bad_input_explains_and_fails(local_env, capsys):
    assert cli.main(["ask", "status", "atlantis"]) == 1
    out = capsys.readouterr().out
    assert "atlantis" in out and "security" in out


def test_console_runs_commands_until_quit(local_env, capsys, monkeypatch):
    lines = iter(["status ukraine", "/roadmap find Kellogg", "quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert cli.main(["console"]) == 0
    out = capsys.readouterr().out
    assert "Belarus, Russia and the Ukraine peace process" in out and "Kellogg" in out


def test_unknown_setting_stops_the_cli_with_one_line(local_env, capsys, monkeypatch):
    monkeypatch.setenv("ROADMAP_TIMEZON", "UTC")
    assert cli.main(["ask", "status"]) == 2
    assert "ROADMAP_TIMEZON" in capsys.readouterr().err


def test_export_then_import_replace_via_cli(local_env, capsys):
    backup = local_env / "backup.yaml"
    assert cli.main(["ask", "log", "security", "Backup check"]) == 0
    assert cli.main(["export", str(backup)]) == 0
    assert cli.main(["ask", "set", "SEC-1", "dropped"]) == 0
    assert cli.main(["import", "--replace", str(backup)]) == 0
    capsys.readouterr()
    assert cli.main(["ask", "status", "SEC-1"]) == 0
    out = capsys.readouterr().out
    assert "proposed" in out and "dropped" not in out
    assert cli.main(["ask", "find", "Backup check"]) == 0
    assert "Backup check" in capsys.readouterr().out


def test_import_of_a_broken_file_names_the_problem_and_changes_nothing(local_env, capsys):
    bad = local_env / "bad.yaml"
    bad.write_text("format: roadmap/1\nsides: []\nclusters: [{slug: x}]\n")
    assert cli.main(["import", str(bad)]) == 1
    assert "prefix" in capsys.readouterr().err


def test_an_import_that_would_close_a_cycle_with_the_store_says_so_and_changes_nothing(local_env, capsys):
    from store.roadmap_file import DEFAULT_ROADMAP, dump, load

    assert cli.main(["ask", "after", "ECO-1", "SEC-1"]) == 0
    doc = load(DEFAULT_ROADMAP)
    next(s for c in doc["clusters"] for s in c["steps"] if s["id"] == "SEC-1")["after"] = ["ECO-1"]
    path = local_env / "cycle.yaml"
    path.write_text(dump(doc), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["import", str(path)]) == 1
    assert "SEC-1 cannot wait on ECO-1" in capsys.readouterr().err
    assert cli.main(["ask", "status", "SEC-1"]) == 0
    assert "Waits on" not in capsys.readouterr().out

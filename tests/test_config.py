"""Configuration (R17.5): nothing in the file or the environment is dropped silently. An unknown
section or key stops `serve` and `check-config` naming the file, section and key, with a close
match; the checks come from the settings models, so a new section needs only its model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.test_cli import run_cli
from torouter.config import ConfigError, Section, Settings, env_warnings, load_settings
from torouter.config_keys import env_problems, file_problems


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "torouter.toml"
    path.write_text(f'data_dir = "{tmp_path}/data"\n' + text)
    return path


@pytest.fixture(autouse=True)
def no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TOROUTER_"):
            monkeypatch.delenv(name)


def test_a_misspelt_key_names_the_file_section_and_key_with_a_close_match(tmp_path: Path) -> None:
    path = write(tmp_path, '[signup]\nalowed_domains = ["corp.example"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == (
        f"{path}: signup.alowed_domains: unknown key (did you mean `allowed_domains`?)"
    )


def test_every_unknown_name_is_listed_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'timezon = "UTC"\n[servr]\nport = 1\n[server]\nprot = 2\n[nothing_like_it]\na = 1\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).splitlines() == [
        f"{path}: timezon: unknown key (did you mean `timezone`?)",
        f"{path}: servr: unknown section (did you mean [server]?)",
        f"{path}: server.prot: unknown key (did you mean `port`?)",
        f"{path}: nothing_like_it: unknown section",
    ]


def test_a_name_the_program_sets_itself_is_not_a_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config_file: unknown key"):
        load_settings(write(tmp_path, 'config_file = "x.toml"\n'))


def test_known_sections_and_provisioning_tables_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[server]\nport = 9\nmax_header_bytes = 32768\n[signup]\nenabled = false\n"
        '[[groups]]\nname = "default"\n',
    )
    s = load_settings(path)
    assert s.server.port == 9 and s.server.max_header_bytes == 32768
    assert s.signup.enabled is False and s.groups == [{"name": "default"}]


def test_an_unknown_setting_variable_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOROUTER_SERVER__PROT", "9000")
    monkeypatch.setenv("TOROUTER_SINGUP__ENABLED", "false")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, ""))
    assert str(caught.value).splitlines() == [
        "TOROUTER_SERVER__PROT: server.prot: unknown key (did you mean `port`?)",
        "TOROUTER_SINGUP__ENABLED: singup: unknown section (did you mean [signup]?)",
    ]


def test_single_level_variables_warn_only_when_they_look_like_a_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`TOROUTER_` is shared with the program's own variables, other tools' and the tests'."""
    environ = {
        "TOROUTER_DATADIR": "/srv",  # a typo of TOROUTER_DATA_DIR
        "TOROUTER_CONFIG": "x.toml",
        "TOROUTER_ADMIN_PASSWORD": "x",
        "TOROUTER_KEY": "sk-…",  # e.g. a CLI's `env_key`
        "TOROUTER_TEST_PG_URL": "postgresql://…",
        "TOROUTER_RECORDED_DIR": "/fixtures",
        "TOROUTER_SERVER__PORT": "9000",
        "TOROUTER_TIMEZONE": "UTC",
    }
    assert env_warnings(environ) == [
        "TOROUTER_DATADIR: datadir: unknown key (did you mean `TOROUTER_DATA_DIR`?); it is ignored"
    ]
    for name, value in environ.items():
        if name not in ("TOROUTER_DATADIR", "TOROUTER_CONFIG"):
            monkeypatch.setenv(name, value)
    assert load_settings().server.port == 9000


def test_the_checks_come_from_the_models_so_a_new_section_needs_only_its_model() -> None:
    class PaymentsSettings(Section):
        stripe_api_base: str = "https://api.stripe.com"

    class Extended(Settings):
        payments: PaymentsSettings = PaymentsSettings()

    data = {"payments": {"stripe_api_bse": "x"}, "paymnets": {}}
    assert [str(p) for p in file_problems(data, Extended, "f.toml")] == [
        "f.toml: payments.stripe_api_bse: unknown key (did you mean `stripe_api_base`?)",
        "f.toml: paymnets: unknown section (did you mean [payments]?)",
    ]
    errors, _ = env_problems({"TOROUTER_PAYMENTS__STRIPE_API_BASE": "x"}, Extended)
    assert errors == []
    with pytest.raises(ValidationError):  # and built directly, the model refuses it too
        PaymentsSettings(stripe_api_bse="x")  # type: ignore[call-arg]


def test_signup_domains_are_checked_and_normalised(tmp_path: Path) -> None:
    s = load_settings(
        write(tmp_path, '[signup]\nallowed_domains = ["@Corp.Example.", "corp.example"]\n')
    )
    assert s.signup.allowed_domains == ["corp.example"]
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, '[signup]\nallowed_domains = ["corp,example"]\n'))
    assert str(caught.value) == (
        f"{tmp_path / 'torouter.toml'}: signup.allowed_domains: "
        "Value error, not an email domain: 'corp,example'"
    )


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_serve_and_check_config_stop_on_an_unknown_key(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, "[server]\nprot = 9000\n")
    out = run_cli(tmp_path, command, "--config", str(path))
    assert out.returncode == 2
    assert (f"ToRouter: {path}: server.prot: unknown key (did you mean `port`?)") in out.stderr


def test_check_config_warns_that_scale_out_without_smtp_sends_no_mail(tmp_path: Path) -> None:
    path = write(tmp_path, '[redis]\nurl = "redis://127.0.0.1:1/0"\n')
    out = run_cli(tmp_path, "check-config", "--config", str(path))
    assert out.returncode == 0 and out.stdout == "configuration is valid\n"
    assert "ToRouter: warning: smtp.host is not set: verification and password-reset mail" in (
        out.stderr
    )

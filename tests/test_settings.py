"""Environment-driven settings reject values they cannot take."""

import pytest

from cm_site.env import EnvError, env_bool, env_int, env_list


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("0", False), ("Yes", True), ("", False)]
)
def test_env_bool_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("CM_FLAG", raw)
    assert env_bool("CM_FLAG", not expected) is expected


def test_env_bool_refuses_anything_else_naming_the_variable(monkeypatch):
    monkeypatch.setenv("CM_FLAG", "maybe")
    with pytest.raises(EnvError, match="CM_FLAG='maybe'"):
        env_bool("CM_FLAG", False)


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("CM_N", "12")
    monkeypatch.setenv("CM_HOSTS", "a, b,,c")
    assert env_int("CM_N", 1) == 12
    assert env_list("CM_HOSTS", []) == ["a", "b", "c"]
    monkeypatch.setenv("CM_N", "twelve")
    with pytest.raises(EnvError, match="expected an integer"):
        env_int("CM_N", 1)


def test_defaults_need_no_environment(settings):
    assert settings.DATABASES["default"]["ENGINE"] in {
        "django.db.backends.sqlite3",
        "django.db.backends.postgresql",
    }
    assert settings.CM_SPEC_MAX_BYTES == 1024 * 1024

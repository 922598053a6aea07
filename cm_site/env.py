"""Strict readers for settings that come from the environment.

A typo in a deployment's environment must stop the process with a message that
names the variable, not silently fall back to a default.
"""

import os
from pathlib import Path

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class EnvError(ValueError):
    """An environment variable holds a value its setting cannot take."""


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise EnvError(f"{name}={raw!r}: expected one of true/false, 1/0, yes/no, on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise EnvError(f"{name}={raw!r}: expected an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_map(name: str, default: dict[str, str]) -> dict[str, str]:
    """``label=value,label=value`` into a mapping."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    mapping = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        label, sep, value = item.partition("=")
        if not sep or not label.strip() or not value.strip():
            raise EnvError(f"{name}: {item!r} is not of the form label=value")
        mapping[label.strip()] = value.strip()
    return mapping


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return Path(raw).expanduser().resolve() if raw else default

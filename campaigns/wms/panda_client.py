"""Calling pandaclient and the iDDS client safely from a long-lived process.

They read their settings from the environment (some at import), time out only after
minutes, and call ``sys.exit`` on an authentication failure. Here each call gets exactly
the PanDA settings cm was given, restored afterwards, and runs under a deadline that
turns any failure, exit included, into ``WmsUnavailable``.
"""

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from campaigns.wms.base import (
    WmsUnavailable,
)

_MANAGED_PREFIXES = ("PANDA", "IDDS_", "OIDC_", "X509_")


_MANAGED_NAMES = ("LSST_RUN_TEMP_SPACE", "PATH")


def panda_environment(source: Mapping[str, str]) -> dict[str, str]:
    """The client's environment, from cm's PanDA settings or a process environment."""
    env = {key: value for key, value in source.items() if _managed(key)}
    env.setdefault("PANDA_BEHIND_REAL_LB", "1")
    if "PANDA_URL_SSL" in env:
        env.setdefault("PANDACACHE_URL", env["PANDA_URL_SSL"])
    env.setdefault("PANDA_CONFIG_ROOT", str(Path.home() / ".pathena"))
    scripts = str(Path(sys.executable).parent)
    path = source.get("PATH") or os.environ.get("PATH", "")
    env["PATH"] = path if scripts in path.split(os.pathsep) else f"{path}{os.pathsep}{scripts}"
    return env


def _managed(key: str) -> bool:
    return key.startswith(_MANAGED_PREFIXES) or key in _MANAGED_NAMES


def bounded[T](what: str, timeout: float, call: Callable[[], T]) -> T:
    """``call()`` in a daemon thread given ``timeout`` seconds; any fault is WmsUnavailable."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # SystemExit: pandaclient's answer to a failed login
            outcome["error"] = error

    thread = threading.Thread(target=run, name=f"panda-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise WmsUnavailable(f"PanDA {what}: no answer within {timeout:g} s")
    if "error" in outcome:
        error = outcome["error"]
        raise WmsUnavailable(f"PanDA {what} failed: {_describe(error)}") from error
    return outcome["value"]


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"the PanDA client exited with code {error.code} (a failed login?)"
    return f"{type(error).__name__}: {error}"


_CLIENT_URLS = {  # pandaclient.Client's module settings, read from the environment at import
    "baseURL": "PANDA_URL",
    "baseURLSSL": "PANDA_URL_SSL",
    "baseURLCSRVSSL": "PANDACACHE_URL",
}


_CLIENT_API_URLS = {
    "server_base_path": "PANDA_URL",
    "server_base_path_ssl": "PANDA_URL_SSL",
    "cache_base_path_ssl": "PANDACACHE_URL",
}


class _ClientSettings:
    """``os.environ`` and pandaclient's module settings, set for the calls that share them.

    The first caller with some settings applies them and the last one out puts back what was
    there; callers with other settings wait (up to ``wait`` seconds) for the process to be free.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._env: dict[str, str] | None = None
        self._users = 0
        self._saved: tuple[dict[str, str | None], dict[str, Any]] = ({}, {})

    @contextmanager
    def using(self, env: dict[str, str], wait: float) -> Iterator[None]:
        for key in ("PANDA_URL", "PANDA_URL_SSL"):
            if not env.get(key):
                raise WmsUnavailable(f"PanDA is not configured: {key} is not set")
        self._enter(env, wait)
        try:
            yield
        finally:
            self._leave()

    def _enter(self, env: dict[str, str], wait: float) -> None:
        with self._changed:
            free = self._changed.wait_for(lambda: self._users == 0 or self._env == env, wait)
            if not free:
                raise WmsUnavailable("the PanDA client is busy with other settings")
            if self._users == 0:
                self._saved = _apply(env)
                self._env = env
            self._users += 1

    def _leave(self) -> None:
        with self._changed:
            self._users -= 1
            if self._users == 0:
                _restore(*self._saved)
                self._env = None
                self._changed.notify_all()


def _apply(env: dict[str, str]) -> tuple[dict[str, str | None], dict[str, Any]]:
    saved_env = {key: os.environ.get(key) for key in {*env, *filter(_managed, os.environ)}}
    for key in saved_env:
        if key not in env:
            del os.environ[key]
    os.environ.update(env)
    try:
        client = _import_client()
        saved_client = {name: getattr(client, name) for name in [*_CLIENT_URLS, *_CLIENT_API_URLS]}
        for name, key in _CLIENT_URLS.items():
            setattr(client, name, env[key])
        for name, key in _CLIENT_API_URLS.items():
            parsed = urlparse(env[key])
            setattr(client, name, f"{parsed.scheme}://{parsed.netloc}/api/v1")
    except Exception as error:
        _restore(saved_env, {})
        raise WmsUnavailable(f"the PanDA client cannot be loaded: {error}") from error
    return saved_env, saved_client


def _restore(saved_env: dict[str, str | None], saved_client: dict[str, Any]) -> None:
    if saved_client:
        client = sys.modules["pandaclient.Client"]
        for name, value in saved_client.items():
            setattr(client, name, value)
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _import_client() -> Any:
    """Import the PanDA plugin with the client's environment set, keeping logging as it was.

    idds configures the root logger when imported (a stdout handler at INFO, UTC timestamps for
    every formatter) if nothing else has: that is not its call to make in cm's processes.
    """
    if "lsst.ctrl.bps.panda" not in sys.modules:
        root = logging.getLogger()
        handlers, level, converter = root.handlers[:], root.level, logging.Formatter.converter
        try:
            import lsst.ctrl.bps.panda  # noqa: F401
        finally:
            root.handlers[:], logging.Formatter.converter = handlers, converter
            root.setLevel(level)
    import pandaclient.Client

    return pandaclient.Client


CLIENT = _ClientSettings()

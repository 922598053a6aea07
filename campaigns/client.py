"""cm-client: the cm REST API (``/api/v1/``) from a shell, for everyday use.

    cm-client [--url URL] [--token TOKEN] COMMAND ...

    list LEVEL [--status S]... [--filter KEY=VALUE]... [--limit N] [--json]
    show LEVEL ID|PATH [--json]
    launch GROUP... --reason R [--override KEY=VALUE]... [--idempotency-key K]
    retry GROUP... --reason R [--override KEY=VALUE]... [--idempotency-key K]
    validate LEVEL ID|PATH --reason R
    invalidate LEVEL ID|PATH --reason R [--purge] [--dry-run]
    ack ALARM_ID...
    table campaigns|steps|groups|alarms [--campaign ID|PATH] [--step ID|PATH] [--csv]
    watch CAMPAIGN [--interval S] [--until-final] [--max-polls N]

An element is named by its id or by its path, ``production/campaign/step/group/attempt_N``
(e.g. ``demo-dp/test/step1/g000``).

The server is ``--url``, else ``$CM_API_URL``, else http://127.0.0.1:8000. The token is
``--token``, else ``$CM_API_TOKEN``, else the file ``~/.config/cm/token`` (which must not be
readable by others: ``chmod 600``). ``python manage.py cm api-token USER`` prints a user's token.

Exit codes: 0 done; 1 usage or client error (bad arguments, unknown element, 400, 404);
2 refused (409 conflict: not allowed from the current status; 422); 3 authentication or role
(401, 403); 4 server or network (5xx, unreachable, timeout, an answer that is not JSON).

This file needs only Python's standard library (3.9 or newer): copy it anywhere and run
``python3 client.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from typing import Any, NoReturn

# datetime.UTC is Python 3.11+; this file also runs on the 3.9 of older systems.
UTC = timezone.utc  # noqa: UP017
PROG = "cm-client"
DEFAULT_URL = "http://127.0.0.1:8000"
API = "/api/v1"
USER_AGENT = "cm-client/1"

OK, USAGE, REFUSED, AUTH, SERVER = 0, 1, 2, 3, 4
EXIT_CODES = {
    OK: "done",
    USAGE: "usage or client error: bad arguments, unknown element, 400 or 404",
    REFUSED: "refused: 409 (not allowed from the current status) or 422",
    AUTH: "authentication or role: 401 (no or bad token) or 403 (role too low)",
    SERVER: "server or network: 5xx, unreachable, timeout, or an answer that is not JSON",
}

#: API list name of each level, and what else a user may call it.
LEVELS = {
    "productions": ("production",),
    "campaigns": ("campaign",),
    "steps": ("step",),
    "groups": ("group",),
    "workflows": ("workflow", "attempt", "attempts"),
    "jobs": ("job",),
    "failed-quanta": ("failed-quantum", "failed_quanta", "failed_quantum", "quanta"),
    "alarms": ("alarm",),
    "history": ("changes", "change", "status-changes"),
}
ALIASES = {alias: level for level, aliases in LEVELS.items() for alias in (level, *aliases)}
SINGULAR = {
    "productions": "production",
    "campaigns": "campaign",
    "steps": "step",
    "groups": "group",
    "workflows": "workflow",
    "jobs": "job",
    "failed-quanta": "failed quantum",
    "alarms": "alarm",
    "history": "status change",
}
#: The levels a path names, outermost first: a path's depth gives its level.
PATH_LEVELS = ("productions", "campaigns", "steps", "groups", "workflows", "jobs")
#: The levels that validate and invalidate act on.
ACTION_LEVELS = ("productions", "campaigns", "steps", "groups")
#: ``--filter KEY=PATH``: parent filters whose value may be a path instead of an id.
PARENT_FILTERS = {
    "production_id": "productions",
    "campaign": "campaigns",
    "step": "steps",
    "group": "groups",
    "workflow": "workflows",
}
#: Fields of a detail answer that link to lists of children (counted by ``show``).
CHILD_LINKS = (
    "campaigns",
    "steps",
    "groups",
    "workflows",
    "jobs",
    "failed_quanta",
    "alarms",
    "history",
)
#: The children links whose rows have a status (``show`` counts them by status).
STATUS_CHILDREN = ("campaigns", "steps", "groups", "workflows", "jobs")
#: Statuses no element leaves on its own (``watch --until-final`` stops there).
FINAL = frozenset({"accepted", "rejected", "superseded"})
TABLES = ("campaigns", "steps", "groups", "alarms")
#: Rows asked for per request when following pages (the server's maximum).
PAGE = 1000


class ClientError(Exception):
    """A problem to report on one line, with the exit code it means."""

    def __init__(self, message: str, code: int = USAGE, data: Any = None, status: int = 0):
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data
        self.status = status


# --- HTTP ----------------------------------------------------------------------------------


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, url: str):
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            start = self.body[:80].decode("utf-8", "replace").strip().splitlines()
            raise ClientError(
                f"the server's answer from {self.url} is not JSON "
                f"({start[0] if start else 'empty'!r}): is {self.url} the cm API?",
                SERVER,
            ) from error


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but send the token only to the host it was meant for."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            old_host = urllib.parse.urlsplit(req.full_url).netloc
            if urllib.parse.urlsplit(newurl).netloc != old_host:
                new.remove_header("Authorization")
        return new


Params = Sequence[tuple[str, Any]]


class Api:
    """The cm API at ``url``, as the user with ``token``."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientError(f"--url {url!r}: give an http(s) URL, e.g. {DEFAULT_URL}")
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_SameHostRedirects())
        self.last_count: int | None = None

    def url(self, path: str, params: Params | None = None) -> str:
        """The full URL of an API path (``/api/v1/groups/``) or of a link the server gave."""
        if path.startswith(("http://", "https://")):
            url = self._rebase(path)
        else:
            url = self.base + (path if path.startswith("/") else "/" + path)
        if params:
            query = urllib.parse.urlencode([(k, v) for k, v in params if v is not None])
            url += ("&" if "?" in url else "?") + query
        return url

    def _rebase(self, link: str) -> str:
        """A link from the server, sent to the server this client was pointed at (a proxy in
        front of cm may make the server name itself differently)."""
        if link.startswith(self.base + "/") or link == self.base:
            return link
        base, parts = urllib.parse.urlsplit(self.base), urllib.parse.urlsplit(link)
        return urllib.parse.urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        accept: str = "application/json",
        retries: int = 0,
    ) -> Response:
        """Send one request; a 2xx answer is returned, anything else raised as ClientError.

        ``retries``: how many times to send it again after a network failure (only for
        requests that are safe to repeat: reads, or POSTs with an Idempotency-Key)."""
        url = self.url(path, params)
        data = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in range(retries + 1):
            request = urllib.request.Request(url, data=data, method=method)
            request.add_header("Accept", accept)
            request.add_header("User-Agent", USER_AGENT)
            if data is not None:
                request.add_header("Content-Type", "application/json")
            if self.token:
                request.add_header("Authorization", f"Token {self.token}")
            for name, value in (headers or {}).items():
                request.add_header(name, value)
            try:
                with self._opener.open(request, timeout=self.timeout) as answer:
                    return Response(
                        answer.status,
                        {k.lower(): v for k, v in answer.headers.items()},
                        answer.read(),
                        url,
                    )
            except urllib.error.HTTPError as error:
                raise http_error(method, url, error.code, error.read()) from None
            except (urllib.error.URLError, OSError, HTTPException) as error:
                if attempt < retries:
                    time.sleep(min(2.0**attempt, 5.0))
                    continue
                raise ClientError(f"cannot reach {self.base}: {_reason(error)}", SERVER) from None
        raise AssertionError("unreachable")

    def get(self, path: str, params: Params | None = None) -> Any:
        return self.request("GET", path, params=params, retries=1).json()

    def pages(self, path: str, params: Params = (), limit: int = 0) -> Iterator[dict]:
        """Every row of a paged list (at most ``limit`` if not 0), following ``next``; the
        list's ``count`` is in ``self.last_count`` once the first page is read (None when the
        server did not count: more than 10,000 rows). Every row (``limit`` 0) of a list in its
        default order is walked in id order (``?after=``), which stays fast at any depth."""
        query = [(k, v) for k, v in params if k not in ("limit", "offset", "after")]
        self.last_count = None
        size = PAGE if not limit else min(limit, PAGE)
        walk = not limit and not any(k in ("ordering", "sort") for k, _ in query)
        query = [*query, ("limit", size), *([("after", 0)] if walk else [])]
        seen, first = 0, True
        while True:
            page = self.get(path, query)
            if not isinstance(page, dict) or "results" not in page:
                raise ClientError(f"{self.url(path)} is not a paged list", SERVER)
            if first:
                self.last_count, first = page.get("count"), False
            for row in page["results"]:
                yield row
                seen += 1
                if limit and seen >= limit:
                    return
            if not page.get("next") or not page["results"]:
                return
            # The server's next link says where the following page starts (an offset, or
            # the last id seen on a walk).
            query = urllib.parse.parse_qsl(urllib.parse.urlsplit(page["next"]).query)


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    text = str(reason) or type(reason).__name__
    if isinstance(reason, TimeoutError) or "timed out" in text:
        return "timed out"
    return text


def http_error(method: str, url: str, status: int, body: bytes) -> ClientError:
    """The one-line message (and exit code) for a non-2xx answer."""
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        data = None
    detail = data.get("detail") if isinstance(data, dict) else None
    where = f"{method} {urllib.parse.urlsplit(url).path}"
    if status == 400:
        errors = field_errors(data) if data is not None else body[:200].decode("utf-8", "replace")
        return ClientError(f"bad request ({where}): {errors}", USAGE, data, status)
    if status == 401:
        return ClientError(
            f"not authenticated ({detail or 'no or bad token'}): give a token with --token, "
            "$CM_API_TOKEN or ~/.config/cm/token (an admin's python manage.py cm api-token "
            "USER prints one)",
            AUTH,
            data,
            status,
        )
    if status == 403:
        return ClientError(
            f"forbidden ({where}): {detail or 'your role does not allow this'}",
            AUTH,
            data,
            status,
        )
    if status == 404:
        return ClientError(f"not found: {where} ({detail or 'no such object'})", USAGE, data, 404)
    if status in (409, 422):
        return ClientError(f"refused: {refusal(data)}", REFUSED, data, status)
    if status >= 500 or status == 429:
        text = detail or body[:200].decode("utf-8", "replace").strip().splitlines()
        if isinstance(text, list):
            text = text[0] if text else "no details"
        what = "too many requests" if status == 429 else f"server error {status}"
        return ClientError(f"{what} ({where}): {text}", SERVER, data, status)
    return ClientError(f"{status} ({where}): {detail or field_errors(data)}", USAGE, data, status)


def field_errors(data: Any, prefix: str = "") -> str:
    """``{"reason": ["This field is required."]}`` as ``reason: This field is required.``"""
    if isinstance(data, dict):
        parts = []
        for key, value in data.items():
            name = prefix if key in ("non_field_errors", "detail") else _join(prefix, key)
            parts.append(field_errors(value, name))
        return "; ".join(p for p in parts if p)
    if isinstance(data, list):
        if all(isinstance(item, str) for item in data):
            text = " ".join(data)
            return f"{prefix}: {text}" if prefix else text
        return "; ".join(field_errors(item, f"{prefix}[{i}]") for i, item in enumerate(data))
    return f"{prefix}: {data}" if prefix else str(data)


def _join(prefix: str, key: object) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def refusal(data: Any) -> str:
    """A 409's ``{detail, current_status, allowed}`` on one line."""
    if not isinstance(data, dict):
        return "the server refused"
    text = one_line(str(data.get("detail") or "the server refused"))
    if data.get("current_status"):
        text += f"; current status: {data['current_status']}"
    if "allowed" in data:
        allowed = [_move(move) for move in data.get("allowed") or []]
        text += f"; allowed: {', '.join(allowed) if allowed else 'nothing'}"
    return text


def one_line(message: str, most: int = 3) -> str:
    """A message of several lines (a refusal listing each element) as one line, with at most
    ``most`` of its items."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    head, items = lines[0].rstrip(":"), lines[1:]
    more = f"; and {len(items) - most} more" if len(items) > most else ""
    return f"{head}: {'; '.join(items[:most])}{more}"


def _move(move: Any) -> str:
    if isinstance(move, dict):
        name = move.get("action") or move.get("target") or move.get("status") or move
        why = move.get("why") or move.get("description")
        return f"{name} ({why})" if why else str(name)
    return str(move)


# --- Configuration -------------------------------------------------------------------------


def token_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "cm" / "token"


def find_token(given: str | None) -> str | None:
    """``--token``, else ``$CM_API_TOKEN``, else the token file (mode 600), else none."""
    if given:
        return given.strip()
    if os.environ.get("CM_API_TOKEN", "").strip():
        return os.environ["CM_API_TOKEN"].strip()
    path = token_file()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ClientError(f"cannot read the token file {path}: {error.strerror}") from None
    if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise ClientError(
            f"the token file {path} is readable by others (mode {stat.S_IMODE(mode):04o}): "
            f"run chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ClientError(f"cannot read the token file {path}: {error.strerror}") from None
    return text or None


# --- Naming elements -----------------------------------------------------------------------


def level_of(name: str, allowed: Iterable[str] = tuple(LEVELS)) -> str:
    level = ALIASES.get(name.lower().strip())
    allowed = tuple(allowed)
    if level is None or level not in allowed:
        raise ClientError(f"unknown level {name!r}: use one of {', '.join(allowed)}")
    return level


def resolve(api: Api, level: str, ref: str) -> int:
    """The id of the element ``ref`` names: an id, or a path whose depth fits the level."""
    ref = ref.strip()
    if ref.isdigit():
        return int(ref)
    if level not in PATH_LEVELS:
        what = SINGULAR[level]
        article = "an" if what[0] in "aeiou" else "a"
        raise ClientError(f"name {article} {what} by its id (a number), not {ref!r}")
    parts = [p for p in ref.strip("/").split("/") if p]
    depth = PATH_LEVELS.index(level) + 1
    if len(parts) != depth:
        example = "/".join(("production", "campaign", "step", "group", "attempt_N", "job")[:depth])
        raise ClientError(f"{ref!r} is not a {SINGULAR[level]} path: write {example} or an id")
    return find_path(api, level, "/".join(parts))["id"]


def find_path(api: Api, level: str, path: str) -> dict:
    """The element at ``path``, walking down from the production with each level's name and
    parent filters (the API has no filter by path): one or two requests per level."""
    parts = path.split("/")
    found: dict = {}
    for depth, name in enumerate(parts):
        at = PATH_LEVELS[depth]
        want = "/".join(parts[: depth + 1])
        params = _narrowing(at, name, found.get("id"))
        match = next((r for r in api.pages(f"{API}/{at}/", params) if r.get("path") == want), None)
        if match is None:
            raise ClientError(f"no {SINGULAR[at]} {want!r}")
        found = match
    return found


def _narrowing(level: str, name: str, parent: int | None) -> list[tuple[str, Any]]:
    """Query parameters that narrow a level's list to the children of ``parent`` named
    ``name`` (as far as the API's filters allow: rows are matched by path after)."""
    if level == "productions":
        return [("name", name)]
    if level == "campaigns":
        return [("production_id", parent)]
    if level == "steps":
        return [("campaign", parent), ("name", name)]
    if level == "groups":
        return [("step", parent), ("search", name)]
    if level == "workflows":
        return [("group", parent)]
    return [("workflow", parent)]


# --- Showing -------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def age(value: Any, now: datetime | None = None) -> str:
    """How long ago an ISO time was: ``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    moment = parse_time(value)
    if moment is None:
        return "-"
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 1:
        return f"{minutes}m"
    if days < 1:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{days}d{hours % 24:02d}h"


def text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


Column = tuple[str, Callable[[dict], Any]]


def _element_path(row: dict) -> Any:
    element = row.get("element")
    return element.get("path") if isinstance(element, dict) else None


ELEMENT_COLUMNS: list[Column] = [
    ("ID", lambda r: r.get("id")),
    ("PATH", lambda r: r.get("path")),
    ("STATUS", lambda r: r.get("status")),
    ("FOR", lambda r: age(r.get("status_since"))),
    ("DONE", lambda r: r.get("quanta_succeeded")),
    ("FAILED", lambda r: r.get("quanta_failed")),
    ("TOTAL", lambda r: r.get("quanta_expected")),
]
COLUMNS: dict[str, list[Column]] = {
    "jobs": [
        *ELEMENT_COLUMNS[:4],
        ("ATTEMPTS", lambda r: r.get("attempts")),
        ("TASKS", lambda r: ",".join(r.get("task_labels") or [])),
    ],
    "failed-quanta": [
        ("ID", lambda r: r.get("id")),
        ("PATH", lambda r: r.get("path")),
        ("DATA ID", lambda r: r.get("data_id")),
        ("FLAVOR", lambda r: r.get("flavor")),
        ("ACTION", lambda r: r.get("action")),
        ("ERROR", lambda r: r.get("error_type")),
    ],
    "alarms": [
        ("ID", lambda r: r.get("id")),
        ("PATH", _element_path),
        ("SEVERITY", lambda r: r.get("severity")),
        ("KIND", lambda r: r.get("kind")),
        ("STATE", lambda r: _alarm_state(r)),
        ("AGE", lambda r: age(r.get("opened_at"))),
        ("MESSAGE", lambda r: r.get("message")),
    ],
    "history": [
        ("ID", lambda r: r.get("id")),
        ("PATH", _element_path),
        ("FROM", lambda r: r.get("from_status")),
        ("TO", lambda r: r.get("to_status")),
        ("AT", lambda r: utc(parse_time(r.get("at"))) if r.get("at") else None),
        ("BY", lambda r: r.get("actor")),
        ("REASON", lambda r: r.get("reason")),
    ],
}


def _alarm_state(alarm: dict) -> str:
    if alarm.get("cleared_at"):
        return "cleared"
    return f"acked:{alarm['acknowledged_by']}" if alarm.get("acknowledged_by") else "open"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Aligned columns; numbers to the right. The last column is not padded."""
    cells = [[text(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    numeric = [
        any(_number(row[i]) for row in rows)
        and all(_number(row[i]) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]
    lines = []
    for row in [list(headers), *cells]:
        out = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            if numeric[i]:
                out.append(cell.rjust(widths[i]))
            else:
                out.append(cell if last else cell.ljust(widths[i]))
        lines.append("  ".join(out).rstrip())
    return lines


# --- Commands ------------------------------------------------------------------------------


class Output:
    def __init__(self) -> None:
        self.out = sys.stdout
        self.err = sys.stderr

    def line(self, message: str = "") -> None:
        print(message, file=self.out, flush=True)

    def note(self, message: str) -> None:
        print(message, file=self.err, flush=True)

    def json(self, data: Any) -> None:
        self.line(json.dumps(data, indent=2, ensure_ascii=False))


def key_values(items: Sequence[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ClientError(f"{option} {item!r}: write KEY=VALUE")
        pairs.append((key.strip(), value.strip()))
    return pairs


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``--override requestMemory=8192``: VALUE is JSON where it parses (a number here), else
    text, as the retry page and ``cm`` read overrides."""
    overrides: dict[str, Any] = {}
    for key, value in key_values(items, "--override"):
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    return overrides


def cmd_list(api: Api, args: argparse.Namespace, out: Output) -> int:
    level = level_of(args.level)
    params: list[tuple[str, Any]] = [("status", status) for status in args.status]
    for key, value in key_values(args.filter, "--filter"):
        if key in PARENT_FILTERS and not value.isdigit():
            value = str(resolve(api, PARENT_FILTERS[key], value))
        params.append((key, value))
    rows = list(api.pages(f"{API}/{level}/", params, limit=args.limit))
    total = api.last_count
    if args.json:
        out.json(rows)
    elif rows:
        columns = COLUMNS.get(level, ELEMENT_COLUMNS)
        table = [[get(row) for _, get in columns] for row in rows]
        for line in render_table([name for name, _ in columns], table):
            out.line(line)
    else:
        out.note(f"no {level} match")
    if isinstance(total, int) and total > len(rows):
        out.note(f"{len(rows)} of {total} {level} shown: --limit N for more (0: all)")
    elif total is None and args.limit and len(rows) >= args.limit:
        out.note(f"{len(rows)} of more than 10,000 {level} shown: --limit N for more (0: all)")
    return OK


def cmd_show(api: Api, args: argparse.Namespace, out: Output) -> int:
    level = level_of(args.level)
    element = api.get(f"{API}/{level}/{resolve(api, level, args.ref)}/")
    counts = {}
    for name in CHILD_LINKS:
        link = element.get(name)
        if isinstance(link, str) and "?" in link:
            counts[name] = child_counts(api, name, link)
    if args.json:
        out.json({**element, "child_counts": counts})
        return OK
    shown = [(k, v) for k, v in element.items() if k not in counts]
    width = max(len(k) for k, _ in shown) if shown else 0
    for key, value in shown:
        if key == "spec" and isinstance(value, dict):
            value = f"({len(value)} settings; --json shows them)"
        elif key == "status_since":
            value = f"{value} ({age(value)} ago)"
        out.line(f"{key.ljust(width)}  {text(value)}")
    if counts:
        out.line("children:")
        width = max(len(k) for k in counts)
        for name, found in counts.items():
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(found["by_status"].items()))
            if "open" in found:
                statuses = f"{found['open']} open"
            extra = f"  ({statuses})" if statuses else ""
            count = "more than 10,000" if found["count"] is None else found["count"]
            out.line(f"  {name.ljust(width)}  {count}{extra}")
    return OK


def child_counts(api: Api, name: str, link: str, most: int = 500) -> dict:
    """How many rows a children link lists and, for elements, how many are in each status
    (when they fit in ``most`` rows); for alarms, how many are open."""
    by_status = name in STATUS_CHILDREN
    page = api.get(link, [("limit", most if by_status else 1)])
    found: dict[str, Any] = {"count": page.get("count", 0), "by_status": {}}
    rows = page.get("results") or []
    if by_status and len(rows) == found["count"]:
        statuses = Counter(r["status"] for r in rows if isinstance(r, dict) and "status" in r)
        found["by_status"] = dict(statuses)
    if name == "alarms" and found["count"]:
        found["open"] = api.get(link, [("open", "true"), ("limit", 1)]).get("count", 0)
    return found


def idempotency_keys(given: str | None, ids: Sequence[int]) -> list[str]:
    """One key per request: the given one (suffixed by the id when there are several), or a
    new random one."""
    if given and len(ids) == 1:
        return [given]
    if given:
        return [f"{given}-{pk}" for pk in ids]
    return [str(uuid.uuid4()) for _ in ids]


def cmd_launch(api: Api, args: argparse.Namespace, out: Output) -> int:
    action = args.command
    overrides = parse_overrides(args.override)
    ids = [resolve(api, "groups", ref) for ref in args.groups]
    worst = OK
    keys = idempotency_keys(args.idempotency_key, ids)
    for index, ref in enumerate(args.groups):
        pk, key = ids[index], keys[index]
        body: dict[str, Any] = {"reason": args.reason}
        if overrides:
            body["overrides"] = overrides
        try:
            answer = post_action(api, f"{API}/groups/{pk}/{action}/", body, key, named(ref))
        except ClientError as error:
            if error.status not in (400, 404, 409, 422):
                raise  # no use going on: auth, server or network
            out.note(f"{PROG}: {named(ref)}: {one_line(error.message)}")
            worst = max(worst, error.code)
            continue
        out.line(started(api, ref, action, answer))
    return worst


def post_action(api: Api, path: str, body: dict, key: str, what: str) -> Response:
    """POST an action with its Idempotency-Key, sent again (with the same key) after a network
    failure; if it still fails, the message names the key to repeat it with."""
    try:
        return api.request("POST", path, body=body, headers={"Idempotency-Key": key}, retries=2)
    except ClientError as error:
        if error.code == SERVER:
            error.message += f" (to repeat it safely for {what}: --idempotency-key {key})"
        raise


def started(api: Api, ref: str, action: str, answer: Response) -> str:
    """``demo/test/step1/g000: retry accepted: demo/test/step1/g000/attempt_2
    launch_requested <page>`` from a 202's ``{workflow, page, status, attempt}``."""
    data = answer.json()
    data = data if isinstance(data, dict) else {}
    attempt: str | None
    if not ref.isdigit() and isinstance(data.get("attempt"), int):
        attempt = f"{ref.strip('/')}/attempt_{data['attempt']}"
    else:  # a group named by id: the new attempt's path is in the API
        link = data.get("workflow") or answer.header("Location")
        try:
            attempt = api.get(link).get("path") if link else None
        except ClientError:
            attempt = None
        attempt = attempt or link or "a new attempt"
    parts = [f"{named(ref)}: {action} accepted: {attempt}"]
    parts.extend(str(data[key]) for key in ("status", "page") if data.get(key))
    if (answer.header("Idempotent-Replayed") or "").lower() == "true":
        parts.append("(replayed: an earlier request with this Idempotency-Key did it)")
    return "  ".join(parts)


def named(ref: str) -> str:
    return f"group {ref}" if ref.isdigit() else ref


def cmd_judge(api: Api, args: argparse.Namespace, out: Output) -> int:
    level = level_of(args.level, ACTION_LEVELS)
    pk = resolve(api, level, args.ref)
    body: dict[str, Any] = {"reason": args.reason}
    if args.command == "invalidate":
        body["purge"] = args.purge
        body["dry_run"] = args.dry_run
    key = args.idempotency_key or str(uuid.uuid4())
    answer = post_action(api, f"{API}/{level}/{pk}/{args.command}/", body, key, args.ref)
    data = answer.json()
    if args.json:
        out.json(data)
        return OK
    for line in report(data):
        out.line(line)
    if (answer.header("Idempotent-Replayed") or "").lower() == "true":
        out.note("(replayed: an earlier request with this Idempotency-Key did it)")
    return OK


def report(data: Any) -> list[str]:
    """An action's answer: ``path: status``, then its report lines (what invalidating did or,
    for a dry run, would do)."""
    if not isinstance(data, dict):
        return [text(data)] if data is not None else []
    lines: list[str] = []
    if data.get("path") and data.get("status"):
        dry = "  (dry run: nothing changed)" if data.get("dry_run") else ""
        lines.append(f"{data['path']}: {data['status']}{dry}")
    for key in ("detail", "message"):
        if isinstance(data.get(key), str):
            lines.append(data[key])
    report = data.get("lines")
    if isinstance(report, list):
        lines.extend(f"  {text(item)}" for item in report)
    return lines or [f"{k}: {text(v)}" for k, v in data.items()]


def cmd_ack(api: Api, args: argparse.Namespace, out: Output) -> int:
    for ref in args.alarms:
        pk = resolve(api, "alarms", ref)
        answer = api.request("POST", f"{API}/alarms/{pk}/acknowledge/", body={}, retries=1)
        alarm = answer.json()
        alarm = alarm if isinstance(alarm, dict) else {}
        who = alarm.get("acknowledged_by")
        when = parse_time(alarm.get("acknowledged_at"))
        by = f" by {who}" if who else ""
        at = f" at {utc(when)}" if when else ""
        was = "" if alarm.get("newly_acknowledged", True) else " (already)"
        kind = f" ({alarm['kind']})" if alarm.get("kind") else ""
        out.line(f"alarm {pk}{kind} acknowledged{was}{by}{at}")
    return OK


def cmd_table(api: Api, args: argparse.Namespace, out: Output) -> int:
    params: list[tuple[str, Any]] = []
    if args.campaign:
        params.append(("campaign", resolve(api, "campaigns", args.campaign)))
    if args.step:
        params.append(("step", resolve(api, "steps", args.step)))
    params.extend(key_values(args.filter, "--filter"))
    endpoint = f"{API}/tables/{args.name}/"
    if args.csv:
        if args.limit:
            params.append(("limit", args.limit))
        answer = api.request(
            "GET", endpoint, params=[*params, ("format", "csv")], accept="text/csv", retries=1
        )
        out.out.write(answer.body.decode("utf-8"))
        out.out.flush()
        return OK
    rows = list(api.pages(endpoint, params, limit=args.limit))
    if args.json:
        out.json(rows)
    elif rows:
        headers = list(rows[0])
        for line in render_table(headers, [[row.get(h) for h in headers] for row in rows]):
            out.line(line)
    else:
        out.note(f"the {args.name} table has no rows")
    return OK


Snapshot = dict[tuple[str, int], dict]


def snapshot(api: Api, campaign: int) -> Snapshot:
    """The campaign, its steps and its groups, by (level, id)."""
    found: Snapshot = {("campaign", campaign): api.get(f"{API}/campaigns/{campaign}/")}
    for level in ("steps", "groups"):
        for row in api.pages(f"{API}/{level}/", [("campaign", campaign)]):
            found[(SINGULAR[level], row["id"])] = row
    return found


def changes(old: Snapshot, new: Snapshot) -> list[str]:
    """A line for each element whose status changed, that appeared or that went away."""
    lines = []
    for key, row in new.items():
        before = old.get(key)
        if before is not None and before.get("status") == row.get("status"):
            continue
        when = utc(parse_time(row.get("status_since")))
        was = "(new)" if before is None else before.get("status")
        reason = f"  {row['status_reason']}" if row.get("status_reason") else ""
        lines.append(f"{when}  {key[0]:<8} {row.get('path')}  {was} -> {row.get('status')}{reason}")
    for key, row in old.items():
        if key not in new:
            lines.append(f"{utc()}  {key[0]:<8} {row.get('path')}  {row.get('status')} -> (gone)")
    return lines


def summary(found: Snapshot) -> list[str]:
    """What a watch starts from: the campaign and its steps, and its groups by status."""
    lines = []
    for (level, _), row in found.items():
        if level in ("campaign", "step"):
            since = utc(parse_time(row.get("status_since")))
            lines.append(f"{since}  {level:<8} {row.get('path')}  {row.get('status')}")
    groups = Counter(row.get("status") for (level, _), row in found.items() if level == "group")
    if groups:
        counted = ", ".join(f"{n} {status}" for status, n in sorted(groups.items()))
        lines.append(f"{utc()}  groups   {sum(groups.values())}: {counted}")
    return lines


def cmd_watch(api: Api, args: argparse.Namespace, out: Output) -> int:
    campaign = resolve(api, "campaigns", args.campaign)
    previous: Snapshot | None = None
    polls = failures = 0
    try:
        while True:
            try:
                current = snapshot(api, campaign)
                failures = 0
            except ClientError as error:
                failures += 1
                if error.code != SERVER or failures >= args.tolerate:
                    raise
                out.note(f"{utc()}  {PROG}: {error.message} (will try again)")
                current = None
            polls += 1
            if current is not None:
                lines = summary(current) if previous is None else changes(previous, current)
                for line in lines:
                    out.line(line)
                previous = current
                status = current[("campaign", campaign)].get("status")
                if args.until_final and status in FINAL:
                    out.note(f"{utc()}  campaign is {status}: done watching")
                    return OK
            if args.max_polls and polls >= args.max_polls:
                return OK
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return OK


# --- The command line ----------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 (argparse's own default is 2, our 'refused')."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return number


def parser() -> Parser:
    epilog = "exit codes:\n" + "\n".join(f"  {code}  {what}" for code, what in EXIT_CODES.items())
    common = Parser(add_help=False)
    common.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"the cm server (default: $CM_API_URL, else {DEFAULT_URL})",
    )
    common.add_argument(
        "--token",
        default=argparse.SUPPRESS,
        help="API token (default: $CM_API_TOKEN, else ~/.config/cm/token, mode 600)",
    )
    common.add_argument(
        "--timeout", type=positive, default=argparse.SUPPRESS, help="seconds per request (30)"
    )
    top = Parser(
        prog=PROG,
        description="The cm REST API from the command line. Elements are named by id or by "
        "path (production/campaign/step/group/attempt_N).",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    def command(name: str, handler: Callable, help: str) -> Parser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    levels = ", ".join(LEVELS)
    sub = command("list", cmd_list, "list the elements of a level, filtered")
    sub.add_argument("level", metavar="LEVEL", help=levels)
    sub.add_argument(
        "--status", action="append", default=[], metavar="S", help="this status (repeatable)"
    )
    sub.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an API filter, e.g. campaign=3, step=demo-dp/test/step1, search=g00 (repeatable)",
    )
    sub.add_argument(
        "--limit", type=non_negative, default=100, metavar="N", help="at most N rows (100; 0: all)"
    )
    sub.add_argument("--json", action="store_true", help="the rows as JSON")

    sub = command("show", cmd_show, "one element's fields and how many children it has")
    sub.add_argument("level", metavar="LEVEL", help=levels)
    sub.add_argument("ref", metavar="ID|PATH")
    sub.add_argument("--json", action="store_true", help="the element as JSON")

    for name, what in (
        ("launch", "launch groups: a new attempt each"),
        ("retry", "retry failed or reviewable groups: a new attempt redoing what failed"),
    ):
        sub = command(name, cmd_launch, what)
        sub.add_argument("groups", nargs="+", metavar="GROUP", help="group id or path")
        sub.add_argument("--reason", required=True, help="why (recorded in the history)")
        sub.add_argument(
            "--override",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a BPS setting for this attempt, e.g. requestMemory=8192 (repeatable)",
        )
        sub.add_argument(
            "--idempotency-key",
            metavar="KEY",
            help="repeat a request safely (default: a new random key; one per group)",
        )

    for name, what in (
        ("validate", "validate (accept) a group, step, campaign or production"),
        ("invalidate", "invalidate (reject) a group, step, campaign or production"),
    ):
        sub = command(name, cmd_judge, what)
        sub.add_argument("level", metavar="LEVEL", help=", ".join(ACTION_LEVELS))
        sub.add_argument("ref", metavar="ID|PATH")
        sub.add_argument("--reason", required=True, help="why (recorded in the history)")
        if name == "invalidate":
            sub.add_argument("--purge", action="store_true", help="also remove its data (admin)")
            sub.add_argument(
                "--dry-run", action="store_true", help="only report what would be done"
            )
        sub.add_argument("--idempotency-key", metavar="KEY", help="repeat a request safely")
        sub.add_argument("--json", action="store_true", help="the answer as JSON")

    sub = command("ack", cmd_ack, "acknowledge alarms")
    sub.add_argument("alarms", nargs="+", metavar="ALARM_ID")

    sub = command("table", cmd_table, "a page's status table (gen{X}Table)")
    sub.add_argument("name", choices=TABLES, metavar="|".join(TABLES))
    sub.add_argument("--campaign", metavar="ID|PATH", help="the campaign (for steps)")
    sub.add_argument("--step", metavar="ID|PATH", help="the step (for groups)")
    sub.add_argument(
        "--filter", action="append", default=[], metavar="KEY=VALUE", help="a page filter"
    )
    sub.add_argument("--limit", type=non_negative, default=0, metavar="N", help="at most N rows")
    sub.add_argument("--csv", action="store_true", help="CSV, as the pages export it")
    sub.add_argument("--json", action="store_true", help="the rows as JSON")

    sub = command(
        "watch", cmd_watch, "print each status change of a campaign, its steps and groups"
    )
    sub.add_argument("campaign", metavar="CAMPAIGN", help="campaign id or path")
    sub.add_argument(
        "--interval", type=positive, default=30.0, metavar="S", help="seconds between polls (30)"
    )
    sub.add_argument(
        "--until-final", action="store_true", help="stop once the campaign is accepted/rejected"
    )
    sub.add_argument(
        "--max-polls", type=non_negative, default=0, metavar="N", help="stop after N polls"
    )
    sub.add_argument(
        "--tolerate",
        type=non_negative,
        default=5,
        metavar="N",
        help="give up after N polls in a row fail on the network or server (5)",
    )
    return top


def main(argv: Sequence[str] | None = None, output: Output | None = None) -> int:
    """Run one command; returns the exit code (see EXIT_CODES). ``output``: where to print
    (stdout and stderr by default)."""
    out = output or Output()
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else USAGE
    try:
        url = getattr(args, "url", None) or os.environ.get("CM_API_URL") or DEFAULT_URL
        api = Api(url, find_token(getattr(args, "token", None)), getattr(args, "timeout", 30.0))
        return int(args.handler(api, args, out))
    except ClientError as error:
        out.note(f"{PROG}: {one_line(error.message)}")
        return error.code
    except KeyboardInterrupt:
        out.note(f"{PROG}: interrupted")
        return 130
    except BrokenPipeError:
        # The reader (e.g. head) went away: not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return OK


if __name__ == "__main__":
    sys.exit(main())

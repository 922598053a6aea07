"""cm-client (``campaigns/client.py``) for real: over HTTP against the live server, as a
shifter or an operator with an API token, on ``build_world()``'s campaign.

``main(argv)`` runs in this process (its output captured); one test runs the
``scripts/cm-client`` wrapper as a subprocess.
"""

import ast
import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token

from campaigns import client
from campaigns.models import Alarm, Group, StatusChange, Workflow
from campaigns.states import Status
from tests.page_world import build_world, set_status

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


class Run:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def json(self):
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- out\n{self.out}--- err\n{self.err}"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No token or server from the developer's own environment or config."""
    monkeypatch.delenv("CM_API_TOKEN", raising=False)
    monkeypatch.delenv("CM_API_URL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture(autouse=True)
def requests_finished():
    """Let the live server finish its requests before the test's database goes away.

    It sends an answer, then closes the request in its own thread (Django's request_finished
    signal, which looks at the database connection): a test that ends as soon as it has the
    answer would otherwise leave that thread to meet a closed database."""
    yield
    deadline = time.monotonic() + 10
    while any(_serving(thread) for thread in threading.enumerate()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)


def _serving(thread: threading.Thread) -> bool:
    target = getattr(thread, "_target", None)  # a running thread's; gone once it has run
    return getattr(target, "__name__", "") == "process_request_thread"


@pytest.fixture
def world():
    return build_world(groups=3)


@pytest.fixture
def shifter_token(shifter) -> str:
    return Token.objects.create(user=shifter).key


@pytest.fixture
def operator_token(operator_role) -> str:
    return Token.objects.create(user=operator_role).key


@pytest.fixture
def cli(live_server, capsys):
    """``cli(*argv, token=...)`` runs the client against the live server."""

    def run(*argv: str, token: str | None = None, url: str | None = None) -> Run:
        capsys.readouterr()
        args = ["--url", url or live_server.url]
        if token:
            args += ["--token", token]
        code = client.main([*args, *argv])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def fields_of(run: Run) -> dict[str, str]:
    """``show``'s ``name  value`` lines, up to its children."""
    lines = run.out.split("children:")[0].splitlines()
    return dict(line.split(None, 1) for line in lines if len(line.split(None, 1)) == 2)


def group_named(world, name: str) -> Group:
    return Group.objects.get(step=world.step, name=name)


# --- Reading -----------------------------------------------------------------------------


def test_list_prints_aligned_columns_of_a_campaigns_groups(cli, world, shifter_token):
    run = cli("list", "groups", "--filter", f"campaign={world.campaign.pk}", token=shifter_token)

    assert run.code == 0, run
    header, *rows = run.lines
    assert header.split() == ["ID", "PATH", "STATUS", "FOR", "DONE", "FAILED", "TOTAL"]
    assert len(rows) == 3
    failed = next(line for line in rows if world.failed_group.path in line)
    assert failed.split()[2:] == ["reviewable", "2h00m", "21", "3", "27"]
    # Aligned: every row's status starts where the header's does.
    column = header.index("STATUS")
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in rows)


def test_list_filters_by_status_and_parent_path_and_follows_pages(
    cli, world, shifter_token, monkeypatch
):
    step = world.step.path
    run = cli(
        "list", "groups", "--status", "running", "--filter", f"step={step}", token=shifter_token
    )
    assert run.code == 0, run
    assert len(run.lines) == 3  # header and the two running groups
    assert all("running" in line for line in run.lines[1:])

    production = world.campaign.production.name
    run = cli("list", "campaigns", "--filter", f"production_id={production}", token=shifter_token)
    assert run.code == 0, run
    assert [line.split()[1] for line in run.lines[1:]] == [world.campaign.path]

    monkeypatch.setattr(client, "PAGE", 2)  # three groups: two pages
    run = cli("list", "group", "--limit", "0", "--json", token=shifter_token)
    assert run.code == 0, run
    assert sorted(row["name"] for row in run.json()) == ["group000", "group001", "group002"]

    run = cli("list", "groups", "--limit", "2", token=shifter_token)
    assert len(run.lines) == 3
    assert "2 of 3 groups shown" in run.err


def test_list_of_alarms_history_and_failed_quanta(cli, world, shifter_token):
    run = cli("list", "alarms", token=shifter_token)
    assert run.code == 0, run
    assert run.lines[0].split()[:4] == ["ID", "PATH", "SEVERITY", "KIND"]
    assert world.failed_attempt.path in run.lines[1]
    assert "workflow-failure-fraction" in run.lines[1]
    assert "open" in run.lines[1]

    run = cli(
        "list",
        "failed-quanta",
        "--filter",
        f"workflow={world.failed_attempt.pk}",
        token=shifter_token,
    )
    assert run.code == 0, run
    assert len(run.lines) == 4
    assert all("calibrate" in line for line in run.lines[1:])

    run = cli(
        "list",
        "history",
        "--filter",
        "level=group",
        "--filter",
        f"id={world.failed_group.pk}",
        "--json",
        token=shifter_token,
    )
    assert run.code == 0, run
    assert {row["to_status"] for row in run.json()} >= {"waiting"}


def test_show_by_path_prints_fields_and_children(cli, world, shifter_token):
    run = cli("show", "group", world.failed_group.path, token=shifter_token)

    assert run.code == 0, run
    fields = fields_of(run)
    assert fields["id"] == str(world.failed_group.pk)
    assert fields["path"] == world.failed_group.path
    assert fields["status"] == "reviewable"
    assert fields["status_since"].endswith("(2h00m ago)")
    children = run.out.split("children:\n")[1]
    assert children.splitlines() == [
        "  workflows  1  (1 reviewable)",
        "  alarms     1  (1 open)",
        "  history    1",
    ]


def test_show_json_by_id_with_child_counts(cli, world, shifter_token):
    run = cli("show", "campaigns", str(world.campaign.pk), "--json", token=shifter_token)

    assert run.code == 0, run
    data = run.json()
    assert data["path"] == world.campaign.path
    assert data["child_counts"]["steps"] == {"count": 1, "by_status": {"running": 1}}

    run = cli("show", "workflow", f"{world.failed_group.path}/attempt_1", token=shifter_token)
    assert run.code == 0, run
    assert fields_of(run)["id"] == str(world.failed_attempt.pk)


def test_show_of_a_missing_element_is_a_client_error(cli, world, shifter_token):
    path = f"{world.step.path}/no-such-group"
    run = cli("show", "group", path, token=shifter_token)
    assert run.code == client.USAGE
    assert run.err.strip() == f"cm-client: no group {path!r}"

    run = cli("show", "group", "999999", token=shifter_token)
    assert run.code == client.USAGE
    assert "not found: GET /api/v1/groups/999999/" in run.err

    run = cli("show", "group", world.step.path, token=shifter_token)
    assert run.code == client.USAGE
    assert "is not a group path" in run.err


def test_table_as_text_and_csv(cli, world, shifter_token):
    run = cli("table", "groups", "--step", world.step.path, token=shifter_token)
    assert run.code == 0, run
    assert len(run.lines) == 4
    assert "group000" in run.lines[1]

    run = cli("table", "campaigns", "--csv", token=shifter_token)
    assert run.code == 0, run
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert len(rows) == 1
    assert world.campaign.name in rows[0].values()

    run = cli("table", "steps", "--campaign", world.campaign.path, "--json", token=shifter_token)
    assert run.code == 0, run
    assert [row for row in run.json() if "step1" in row.values()]

    run = cli("table", "alarms", token=shifter_token)
    assert run.code == 0, run
    assert world.failed_attempt.path in run.out


def test_a_bad_request_names_the_field(cli, world, shifter_token):
    run = cli("table", "steps", token=shifter_token)

    assert run.code == client.USAGE
    assert run.err.strip() == (
        "cm-client: bad request (GET /api/v1/tables/steps/): campaign: This parameter is required."
    )

    run = cli("list", "groups", "--status", "sleeping", token=shifter_token)
    assert run.code == client.USAGE
    assert run.err.startswith("cm-client: bad request (GET /api/v1/groups/): status: ")


# --- Acting ------------------------------------------------------------------------------


def test_retry_starts_a_new_attempt(cli, world, operator_token):
    run = cli(
        "retry",
        world.failed_group.path,
        "--reason",
        "transient I/O",
        "--override",
        "requestMemory=8192",
        token=operator_token,
    )

    assert run.code == 0, run
    attempt = Workflow.objects.get(group=world.failed_group, attempt=2)
    assert attempt.overrides == {"requestMemory": 8192}
    assert run.out.startswith(f"{world.failed_group.path}: retry accepted: {attempt.path}")
    assert StatusChange.objects.filter(reason="transient I/O").exists()


def test_refused_launch_and_retry_exit_2_with_status_and_moves(cli, world, operator_token):
    running = group_named(world, "group001")

    run = cli("retry", running.path, "--reason", "why not", token=operator_token)
    assert run.code == client.REFUSED, run
    assert run.out == ""
    assert run.err.startswith(f"cm-client: {running.path}: refused: ")
    assert "current status: running; allowed: " in run.err

    run = cli("launch", str(running.pk), "--reason", "again", token=operator_token)
    assert run.code == client.REFUSED, run
    assert "current status: running" in run.err


def test_launch_is_idempotent_with_a_key(cli, world, operator_token):
    ready = group_named(world, "group002")
    set_status(ready, Status.READY)
    argv = ["launch", ready.path, "--reason", "go", "--idempotency-key", "launch-group002"]

    first = cli(*argv, token=operator_token)
    assert first.code == 0, first
    assert f"{ready.path}/attempt_2" in first.out

    again = cli(*argv, token=operator_token)
    assert again.code == 0, again
    assert "replayed" in again.out
    assert ready.workflows.count() == 2  # attempt_1 (from the world) and one launch


def test_several_groups_go_on_after_a_refusal(cli, world, operator_token):
    ready = group_named(world, "group002")
    set_status(ready, Status.READY)
    running = group_named(world, "group001")

    run = cli("launch", running.path, str(ready.pk), "--reason", "both", token=operator_token)

    assert run.code == client.REFUSED
    assert f"{running.path}: refused" in run.err
    assert run.out.startswith(f"group {ready.pk}: launch accepted: {ready.path}/attempt_2  ")


def test_validate_and_invalidate_dry_run(cli, world, operator_token):
    group = world.failed_group
    run = cli(
        "invalidate",
        "group",
        group.path,
        "--reason",
        "bad calibration",
        "--dry-run",
        token=operator_token,
    )
    assert run.code == 0, run
    assert run.lines == [
        f"{group.path}: reviewable  (dry run: nothing changed)",
        f"  would reject group {group.path} (was reviewable)",
        f"  would reject workflow {world.failed_attempt.path} (was reviewable)",
    ]
    group.refresh_from_db()
    assert group.status == Status.REVIEWABLE  # a dry run changes nothing

    run = cli("validate", "group", group.path, "--reason", "good enough", token=operator_token)
    assert run.code == 0, run
    assert run.out == f"{group.path}: accepted\n"
    group.refresh_from_db()
    assert group.status == Status.ACCEPTED

    run = cli("validate", "group", group.path, "--reason", "twice", token=operator_token)
    assert run.code == client.REFUSED, run
    assert "current status: accepted" in run.err


def test_ack_as_a_shifter(cli, world, shifter, shifter_token):
    run = cli("ack", str(world.alarm.pk), token=shifter_token)

    assert run.code == 0, run
    kind = "(workflow-failure-fraction)"
    assert run.out.startswith(f"alarm {world.alarm.pk} {kind} acknowledged by sam at 20")
    assert Alarm.objects.get(pk=world.alarm.pk).acknowledged_by == shifter

    run = cli("ack", str(world.alarm.pk), token=shifter_token)
    assert run.code == 0, run
    assert f"{kind} acknowledged (already) by sam" in run.out


# --- Watching ----------------------------------------------------------------------------


def test_watch_prints_changes_until_the_campaign_is_final(live_server, world, shifter_token):
    out = io.StringIO()
    result: dict = {}
    argv = [
        "--url",
        live_server.url,
        "--token",
        shifter_token,
        "watch",
        world.campaign.path,
        "--interval",
        "0.1",
        "--until-final",
        "--max-polls",
        "600",
    ]

    def watch():
        output = client.Output()
        output.out = output.err = out
        result["code"] = client.main(argv, output=output)

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 30
        while text not in out.getvalue():
            assert thread.is_alive() and time.monotonic() < deadline, out.getvalue()
            time.sleep(0.05)

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        wait_for("groups   3: 1 reviewable, 2 running")
        set_status(group_named(world, "group001"), Status.SUCCEEDED, reason="all quanta done")
        wait_for("succeeded")
        set_status(world.campaign, Status.ACCEPTED, reason="validated")
    finally:
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert result["code"] == 0
    lines = out.getvalue().splitlines()
    assert any(
        line.endswith(f"group    {world.step.path}/group001  running -> succeeded  all quanta done")
        for line in lines
    ), lines
    assert any(f"campaign {world.campaign.path}  running -> accepted" in line for line in lines)
    assert lines[-1].endswith("campaign is accepted: done watching")


def test_watch_stops_after_max_polls(cli, world, shifter_token):
    run = cli(
        "watch",
        str(world.campaign.pk),
        "--interval",
        "0.01",
        "--max-polls",
        "2",
        token=shifter_token,
    )
    assert run.code == 0, run
    assert f"campaign {world.campaign.path}  running" in run.out
    assert f"step     {world.step.path}  running" in run.out


# --- Authentication, errors and setup ----------------------------------------------------


def test_auth_failures_exit_3(cli, world, shifter_token, operator):
    run = cli("list", "groups")
    assert run.code == client.AUTH
    assert run.err.startswith("cm-client: not authenticated (")

    run = cli("list", "groups", token="0" * 40)
    assert run.code == client.AUTH
    assert "Invalid token" in run.err

    run = cli("retry", str(world.failed_group.pk), "--reason", "r", token=shifter_token)
    assert run.code == client.AUTH
    assert run.err.startswith("cm-client: forbidden (POST /api/v1/groups/")

    no_role = Token.objects.create(user=operator).key
    assert cli("list", "groups", token=no_role).code == client.AUTH


def test_token_from_environment_and_file(
    cli, live_server, world, shifter_token, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("CM_API_TOKEN", shifter_token)
    monkeypatch.setenv("CM_API_URL", live_server.url)
    assert client.main(["list", "steps"]) == 0
    assert world.step.path in capsys.readouterr().out
    monkeypatch.delenv("CM_API_TOKEN")

    token_file = tmp_path / "config" / "cm" / "token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text(shifter_token + "\n")
    token_file.chmod(0o644)
    run = cli("list", "steps")
    assert run.code == client.USAGE
    assert f"readable by others (mode 0644): run chmod 600 {token_file}" in run.err

    token_file.chmod(0o600)
    run = cli("list", "steps")
    assert run.code == 0, run
    assert world.step.path in run.out


def test_unreachable_server_exits_4(cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = cli("list", "groups", token="x", url=f"http://127.0.0.1:{port}")
    assert run.code == client.SERVER
    assert run.err.startswith(f"cm-client: cannot reach http://127.0.0.1:{port}: ")
    assert len(run.err.splitlines()) == 1


def test_an_answer_that_is_not_the_api_exits_4(cli, live_server, shifter_token):
    run = cli("list", "groups", token=shifter_token, url=live_server.url + "/static")
    assert run.code in (client.USAGE, client.SERVER)
    assert len(run.err.splitlines()) == 1


def test_usage_errors_exit_1(cli, capsys):
    assert cli("list", "planets", token="x").code == client.USAGE
    assert "unknown level 'planets'" in cli("list", "planets", token="x").err
    assert cli("retry", "1").code == client.USAGE  # --reason is required
    assert cli("launch", "1", "--reason", "r", "--override", "novalue").code == client.USAGE
    assert cli("validate", "job", "1", "--reason", "r").code == client.USAGE
    assert cli("list", "groups", url="ftp://example.org").code == client.USAGE


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (400, {"reason": ["This field is required."]}, 1, "reason: This field is required."),
        (
            409,
            {"detail": "not retryable", "current_status": "running", "allowed": ["pause"]},
            2,
            "refused: not retryable; current status: running; allowed: pause",
        ),
        (422, {"detail": "key used for another request"}, 2, "key used for another request"),
        (502, None, 4, "server error 502"),
        (503, {"detail": "down for maintenance"}, 4, "down for maintenance"),
    ],
)
def test_http_errors_map_to_exit_codes(status, body, code, message):
    raw = json.dumps(body).encode() if body is not None else b"<html>Bad gateway</html>"
    error = client.http_error("POST", "http://cm/api/v1/groups/1/retry/", status, raw)
    assert error.code == code
    assert message in error.message
    assert "\n" not in error.message


class FlakyApi(BaseHTTPRequestHandler):
    """Drops the first POST without an answer (as a network failure would), answers the next
    as cm does; remembers each POST's Idempotency-Key."""

    keys: ClassVar[list[str]] = []
    answer: ClassVar[tuple[int, dict]] = (202, {})

    def do_POST(self):
        self.keys.append(self.headers.get("Idempotency-Key"))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if len(self.keys) == 1:
            self.close_connection = True
            return  # closes the connection: the client sees no answer
        status, body = self.answer
        self.send_json(status, body)

    def do_GET(self):
        self.send_json(200, {"id": 9, "path": "p/c/s/g007/attempt_2"})

    def send_json(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_api():
    FlakyApi.keys = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_action_is_sent_again_with_the_same_key_after_a_network_failure(cli, flaky_api):
    FlakyApi.answer = (
        202,
        {
            "workflow": flaky_api + "/api/v1/workflows/9/",
            "attempt": 2,
            "status": "launch_requested",
            "page": flaky_api + "/workflows/9/",
        },
    )
    run = cli("retry", "7", "--reason", "r", token="t", url=flaky_api)

    assert run.code == 0, run
    assert run.out.startswith("group 7: retry accepted: p/c/s/g007/attempt_2  launch_requested")
    assert len(FlakyApi.keys) == 2
    assert FlakyApi.keys[0] == FlakyApi.keys[1]
    assert str(uuid.UUID(FlakyApi.keys[0])) == FlakyApi.keys[0]


def test_a_server_error_names_the_key_to_repeat_with(cli, flaky_api):
    FlakyApi.answer = (500, {"detail": "boom"})
    run = cli(
        "validate",
        "group",
        "7",
        "--reason",
        "r",
        "--idempotency-key",
        "k-1",
        token="t",
        url=flaky_api,
    )

    assert run.code == client.SERVER
    assert run.err == (
        "cm-client: server error 500 (POST /api/v1/groups/7/validate/): boom "
        "(to repeat it safely for 7: --idempotency-key k-1)\n"
    )
    assert FlakyApi.keys == ["k-1", "k-1"]


def test_the_schema_has_what_the_client_relies_on():
    """The client's endpoints, filters, request fields and answer fields, as the API's OpenAPI
    schema documents them (a change to the API that breaks the client fails here too)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths, components = schema["paths"], schema["components"]["schemas"]

    def query(path: str) -> set[str]:
        parameters = paths[path]["get"].get("parameters", [])
        return {p["name"] for p in parameters if p["in"] == "query"}

    def fields(path: str, part: str) -> set[str]:
        operation = paths[path]["post"]
        if part == "request":
            body = operation["requestBody"]["content"]["application/json"]["schema"]
        else:
            body = operation["responses"][part]["content"]["application/json"]["schema"]
        return set(components[body["$ref"].rsplit("/", 1)[1]]["properties"])

    for level in client.LEVELS:
        assert {"limit", "offset"} <= query(f"/api/v1/{level}/")
        assert f"/api/v1/{level}/{{id}}/" in paths
    for depth, level in enumerate(client.PATH_LEVELS):
        narrowing = {key for key, _ in client._narrowing(level, "name", None if not depth else 1)}
        assert narrowing <= query(f"/api/v1/{level}/"), level
    for level in ("steps", "groups"):
        assert "campaign" in query(f"/api/v1/{level}/")  # what watch polls
    for verb in ("launch", "retry"):
        path = f"/api/v1/groups/{{id}}/{verb}/"
        assert fields(path, "request") == {"reason", "overrides"}
        assert {"workflow", "page", "status", "attempt"} <= fields(path, "202")
        assert {"detail", "current_status", "allowed"} <= fields(path, "409")
    for level in client.ACTION_LEVELS:
        assert fields(f"/api/v1/{level}/{{id}}/validate/", "request") == {"reason"}
        invalidate = f"/api/v1/{level}/{{id}}/invalidate/"
        assert fields(invalidate, "request") == {"reason", "purge", "dry_run"}
        assert {"path", "status", "dry_run", "lines"} <= fields(invalidate, "200")
    acknowledged = fields("/api/v1/alarms/{id}/acknowledge/", "200")
    assert {"kind", "acknowledged_by", "acknowledged_at", "newly_acknowledged"} <= acknowledged
    for table in client.TABLES:
        assert {"format", "limit", "offset"} <= query(f"/api/v1/tables/{table}/")
    assert "campaign" in query("/api/v1/tables/steps/")
    assert "step" in query("/api/v1/tables/groups/")


def test_client_needs_only_the_standard_library():
    tree = ast.parse((ROOT / "campaigns" / "client.py").read_text())
    modules = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    modules = {name.split(".")[0] for name in modules}
    assert modules - {"__future__"} <= sys.stdlib_module_names


def test_wrapper_script_runs_the_client():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    done = subprocess.run(
        [str(ROOT / "scripts" / "cm-client"), "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: cm-client")
    assert "exit codes:" in done.stdout

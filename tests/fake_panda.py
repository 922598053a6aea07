"""A fake PanDA server that the real pandaclient / ctrl_bps_panda code talks to.

A standard-library HTTP server on 127.0.0.1 (a free port) speaking the parts of
the protocol cm's PanDA adapter uses:

- ``POST /server/panda/relay_idds_command``: a (gzip-compressed) JSON body
  ``{command_name, args, kwargs, manager}`` where ``args``/``kwargs`` are
  themselves JSON strings; answered with ``[ok, payload]``. Commands: ``ping``,
  ``submit`` (stores the iDDS workflow, answers a new request id),
  ``get_requests`` (one row per request, or per task ``with_detail``),
  ``get_contents_output_ext`` (per task, a row per PanDA job: the job's output
  content joined with the PanDA job record iDDS keeps), ``abort`` and ``retry``.
- ``GET /auth/<vo>_auth_config.json``: the start of pandaclient's OIDC device
  flow, which it runs when no token is in its environment. Answered 403 here,
  so a client without a token fails its login and calls ``sys.exit(255)``.

A bearer token other than ``TOKEN`` is refused with 403. Tests script the
requests' states (``set_state``), their jobs' (``set_job``) and faults per
command (``fail``): "500", "hang" (no answer until the server stops), "garbage"
(not JSON), "malformed" (JSON of the wrong shape) and "auth" (403, the answer to
a refused token).
Every request is logged (``log``). The ``fake_panda`` fixture starts one per test.
"""

import base64
import gzip
import itertools
import json
import re
import threading
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TOKEN = "cm-test-token"
VO = "Rubin"
HANG_LIMIT = 30.0  # seconds a "hang" answer waits at most (the server's stop releases it)


# iDDS's contents_ext columns (idds.orm.base.models.Content_ext): the PanDA job record of an
# output content, None until iDDS has polled PanDA about its job.
PANDA_JOB_COLUMNS = (
    "panda_id", "job_definition_id", "scheduler_id", "pilot_id", "creation_time",
    "modification_time", "start_time", "end_time", "prod_source_label", "prod_user_id",
    "assigned_priority", "current_priority", "attempt_nr", "max_attempt", "max_cpu_count",
    "max_cpu_unit", "max_disk_count", "max_disk_unit", "min_ram_count", "min_ram_unit",
    "cpu_consumption_time", "cpu_consumption_unit", "job_status", "job_name", "trans_exit_code",
    "pilot_error_code", "pilot_error_diag", "exe_error_code", "exe_error_diag", "sup_error_code",
    "sup_error_diag", "ddm_error_code", "ddm_error_diag", "brokerage_error_code",
    "brokerage_error_diag", "job_dispatcher_error_code", "job_dispatcher_error_diag",
    "task_buffer_error_code", "task_buffer_error_diag", "computing_site", "computing_element",
    "grid", "cloud", "cpu_conversion", "task_id", "vo", "pilot_timing", "working_group",
    "processing_type", "prod_user_name", "core_count", "n_input_files", "req_id", "jedi_task_id",
    "actual_core_count", "max_rss", "max_vmem", "max_swap", "max_pss", "avg_rss", "avg_vmem",
    "avg_swap", "avg_pss", "max_walltime", "disk_io", "failed_attempt", "hs06", "hs06sec",
    "memory_leak", "memory_leak_x2", "job_label",
)  # fmt: skip
IDDS_DATE = "%a, %d %b %Y %H:%M:%S UTC"  # idds.common.utils.DATE_FORMAT


@dataclass
class FakeJob:
    """One PanDA job of a task: an iDDS output content named after the BPS job."""

    content_id: int
    name: str  # BPS's job name, then "+placeholder:value" per placeholder parameter
    status: str | None = None  # iDDS ContentStatus name; None: as the task's counts say
    panda: dict[str, Any] = field(default_factory=dict)  # PANDA_JOB_COLUMNS values


@dataclass
class FakeTask:
    """One iDDS transform (a PanDA task) of a request: a chunk of one BPS job label."""

    transform_id: int
    name: str  # {workflow}_{NN}_{label}_{chunk}, as ctrl_bps_panda names it
    status: str = "New"
    total: int = 0
    processed: int = 0
    failed: int = 0
    processing: int = 0
    missing: int = 0
    jobs: list[FakeJob] = field(default_factory=list)

    @property
    def label(self) -> str:
        return re.fullmatch(r".*_\d+_(.+)_\d+", self.name)[1]


@dataclass
class FakeRequest:
    request_id: int
    name: str
    status: str = "New"
    tasks: list[FakeTask] = field(default_factory=list)


@dataclass
class LoggedRequest:
    method: str
    path: str
    command: str = ""  # relay_idds_command's command_name
    kwargs: dict[str, Any] = field(default_factory=dict)
    authorization: str = ""


class FakePanda:
    """The server's state, scripted by tests; ``url`` is what PANDA_URL(_SSL) points at."""

    def __init__(self) -> None:
        self.requests: dict[int, FakeRequest] = {}
        self.log: list[LoggedRequest] = []
        self.faults: dict[str, str] = {}
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/server/panda"

    def env(self, **extra: str) -> dict[str, str]:
        """The PanDA settings cm would pass to point its adapter at this server."""
        return {
            "PANDA_URL": self.url,
            "PANDA_URL_SSL": self.url,
            "PANDACACHE_URL": self.url,
            "PANDA_AUTH": "oidc",
            "PANDA_AUTH_VO": VO,
            "PANDA_AUTH_ID_TOKEN": TOKEN,
            "PANDA_VERIFY_HOST": "off",
            **extra,
        }

    def start(self) -> "FakePanda":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases "hang" answers
        self._server.shutdown()
        self._server.server_close()

    # -- scripting ---------------------------------------------------------------------------

    def fail(self, command: str, how: str) -> None:
        """Make ``command`` (a relay command name, or "*") answer with fault ``how`` from now on."""
        self.faults[command] = how

    def heal(self) -> None:
        self.faults.clear()

    def add_request(self, name: str, labels: dict[str, int]) -> int:
        """A request as if submitted, with one task per label (label -> number of jobs)."""
        request = FakeRequest(next(self._ids), name)
        for number, (label, jobs) in enumerate(labels.items(), start=1):
            task = FakeTask(request.request_id * 100 + number, f"{name}_{number:02d}_{label}_01")
            task.total = jobs
            # Named as ctrl_bps_panda names them: BPS's job name, but finalJob's a pseudo input.
            names = {"pipetaskInit": ["pipetaskInit"], "finalJob": ["pure_pseudoinput"]}.get(
                label, [f"{uuid.uuid4()}_{label}_{job}" for job in range(jobs)]
            )
            task.jobs = [self._job(task, f"{n}+qgraphNodeId:+qgraphId:") for n in names]
            request.tasks.append(task)
        self.requests[request.request_id] = request
        return request.request_id

    def set_state(self, request_id: int, status: str, **tasks: dict[str, Any]) -> None:
        """Set a request's status and, per task label, its task's fields (status, counts)."""
        request = self.requests[request_id]
        request.status = status
        for label, values in tasks.items():
            task = self.task(request_id, label)
            for key, value in values.items():
                setattr(task, key, value)

    def set_job(self, request_id: int, label: str, number: int = 0, **values: Any) -> FakeJob:
        """Set job ``number`` of a label's task: its content ``status``, and PanDA job columns
        (``start_time``/``end_time`` as datetimes, ``max_rss`` in kB, as PanDA has them)."""
        job = self.task(request_id, label).jobs[number]
        job.status = values.pop("status", job.status)
        unknown = set(values) - set(PANDA_JOB_COLUMNS)
        if unknown:
            raise KeyError(f"not iDDS contents_ext columns: {sorted(unknown)}")
        job.panda.update(values)
        return job

    def task(self, request_id: int, label: str) -> FakeTask:
        for task in self.requests[request_id].tasks:
            if task.label == label:
                return task
        raise KeyError(label)

    def commands(self) -> list[str]:
        return [entry.command for entry in self.log if entry.command]

    # -- answers -----------------------------------------------------------------------------

    def relay(self, command: str, kwargs: dict[str, Any], args: list[Any]) -> Any:
        with self._lock:
            if command == "ping":
                return [True, {"Status": "OK"}]
            if command == "submit":
                return [True, self._submit(args[0] if args else kwargs["workflow"])]
            if command == "get_requests":
                return [True, self._rows(int(kwargs["request_id"]), kwargs.get("with_detail"))]
            if command == "get_contents_output_ext":
                return [True, self._job_rows(kwargs)]
            if command in ("abort", "retry"):
                return self._act(command, int(kwargs["request_id"]))
        return [False, f"unknown command {command}"]

    def _submit(self, workflow: dict[str, Any]) -> int:
        """Store a submitted iDDS workflow: one task per work, one job per dependency-map entry."""
        template = workflow["attributes"]["template"]["attributes"]
        request = FakeRequest(next(self._ids), template.get("_name") or "workflow")
        for number, work in enumerate(template["_works"].values(), start=1):
            attributes = work["attributes"]
            jobs = _unzipped(attributes.get("_dependency_map") or [])
            task = FakeTask(request.request_id * 100 + number, attributes["task_name"])
            task.total = len(jobs)
            task.jobs = [self._job(task, job["name"]) for job in jobs]
            request.tasks.append(task)
        self.requests[request.request_id] = request
        return request.request_id

    def _rows(self, request_id: int, with_detail: bool) -> list[dict[str, Any]]:
        request = self.requests.get(request_id)
        if request is None:
            return []
        head = {
            "request_id": request.request_id,
            "scope": "workflow",
            "name": request.name,
            "username": "cm",
            "status": _enum("RequestStatus", request.status),
        }
        if not with_detail:
            return [head]
        if not request.tasks:  # iDDS joins requests to transforms: a row with no transform
            return [head | {"transform_id": None}]
        return [
            head
            | {
                "transform_id": task.transform_id,
                "transform_workload_id": task.transform_id,
                "transform_name": task.name,
                "transform_status": _enum("TransformStatus", task.status),
                "output_total_files": task.total,
                "output_processed_files": task.processed,
                "output_failed_files": task.failed,
                "output_processing_files": task.processing,
                "output_missing_files": task.missing,
                "output_new_files": 0,
                "input_new_files": 0,
            }
            for task in request.tasks
        ]

    def _job(self, task: FakeTask, name: str) -> FakeJob:
        return FakeJob(task.transform_id * 1000 + len(task.jobs), name)

    def _job_rows(self, kwargs: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """What iDDS's REST ``contents_output_ext`` answers: per transform id (a JSON key,
        hence a string), its output contents, each with its PanDA job record."""
        request = self.requests.get(int(kwargs["request_id"]))
        workload = kwargs.get("workload_id")
        tasks = [
            t for t in (request.tasks if request else []) if workload in (None, t.transform_id)
        ]
        return {
            str(t.transform_id): [_job_row(request, t, n, job) for n, job in enumerate(t.jobs)]
            for t in tasks
        }

    def _act(self, command: str, request_id: int) -> list[Any]:
        request = self.requests.get(request_id)
        if request is None:
            return [False, f"request {request_id} not found"]
        request.status = "ToCancel" if command == "abort" else "ToResume"
        return [True, {"status": 0, "message": f"{command} of {request_id} registered"}]


def _job_row(request: FakeRequest, task: FakeTask, number: int, job: FakeJob) -> dict[str, Any]:
    """A content row joined with its contents_ext row, as idds.orm's combine_contents_ext
    makes it (status by name), dates as iDDS's JSON encoder writes them."""
    panda = dict.fromkeys(PANDA_JOB_COLUMNS) | job.panda
    dated = {k: v.strftime(IDDS_DATE) for k, v in panda.items() if isinstance(v, datetime)}
    status = job.status or _counted_status(task, number)
    return {
        **panda,
        **dated,
        "content_id": job.content_id,
        "transform_id": task.transform_id,
        "workload_id": task.transform_id,
        "request_id": request.request_id,
        "coll_id": task.transform_id * 10 + 2,
        "map_id": job.content_id % 1000 + 1,
        "scope": "pseudo_dataset",
        "name": job.name,
        "status": status,
        "substatus": _enum("ContentStatus", status),
        "content_relation_type": _enum("ContentRelationType", "Output"),
        "content_metadata": {"panda_id": str(panda["panda_id"])} if panda["panda_id"] else {},
    }


def _counted_status(task: FakeTask, number: int) -> str:
    """The content status of a task's job ``number`` that agrees with the task's counts."""
    for status, jobs in [
        ("Available", task.processed),
        ("Failed", task.failed),
        ("Missing", task.missing),
        ("Processing", task.processing),
    ]:
        if number < jobs:
            return status
        number -= jobs
    return "New"


def _unzipped(value: Any) -> Any:
    """iDDS sends long fields as "idds_zip:" + base64 of zlib-compressed JSON."""
    if isinstance(value, str) and value.startswith("idds_zip:"):
        return json.loads(zlib.decompress(base64.b64decode(value.removeprefix("idds_zip:"))))
    return value


def _enum(kind: str, name: str) -> dict[str, Any]:
    """An iDDS enum as idds.common.utils.json_dumps writes it."""
    return {
        "__class__": kind,
        "__module__": "idds.common.constants",
        "attributes": {"_name_": name},
    }


def _handler_for(fake: FakePanda) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the log is ``fake.log``
            pass

        def do_GET(self) -> None:
            self._logged()
            if self.path.startswith("/auth/"):
                self._answer(403, b'{"error": "login refused"}')
            else:
                self._answer(404, b"not found")

        def do_POST(self) -> None:
            entry = self._logged()
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self.path.endswith("/relay_idds_command"):
                self._answer(404, b"not found")
                return
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            data = json.loads(body)
            entry.command = data.get("command_name", "")
            entry.kwargs = json.loads(data.get("kwargs") or "{}")
            args = json.loads(data.get("args") or "[]")
            fault = fake.faults.get(entry.command) or fake.faults.get("*")
            if fault:
                self._fault(fault)
            elif entry.authorization != f"Bearer {TOKEN}":
                self._answer(403, b"Authentication no permission")
            else:
                answer = fake.relay(entry.command, entry.kwargs, args)
                self._answer(200, json.dumps(answer).encode())

        def _logged(self) -> LoggedRequest:
            entry = LoggedRequest(
                self.command, self.path, authorization=self.headers.get("Authorization", "")
            )
            fake.log.append(entry)
            return entry

        def _fault(self, how: str) -> None:
            if how == "hang":
                fake._stopping.wait(HANG_LIMIT)
                self._answer(504, b"gateway timeout")
            elif how == "500":
                self._answer(500, b"<html>Internal Server Error</html>")
            elif how == "auth":
                self._answer(403, b"Authentication no permission")
            elif how == "garbage":
                self._answer(200, b"<html>maintenance</html>")
            elif how == "malformed":
                self._answer(200, json.dumps({"unexpected": "shape"}).encode())
            else:
                raise ValueError(f"unknown fault {how!r}")

        def _answer(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def fake_panda():
    """A running fake PanDA server for one test."""
    server = FakePanda().start()
    yield server
    server.stop()

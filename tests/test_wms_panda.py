"""PandaWms against the fake PanDA server: the real ctrl_bps_panda and pandaclient code talks to it.

Nothing of cm's or the clients' is mocked: the fake server (tests/fake_panda.py) answers the
HTTP requests pandaclient makes, and scripted faults play the WMS going wrong.
"""

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from lsst.ctrl.bps import BpsConfig

from campaigns import wms as wms_registry
from campaigns.models import Job, Workflow
from campaigns.services import polling
from campaigns.specs.inherit import deep_merge
from campaigns.states import Status
from campaigns.wms.base import RunState, Submission, TaskCounts, WmsUnavailable
from campaigns.wms.panda import PANDA_DEFAULTS, SPECIAL_JOBS, PandaWms
from tests.builders import make_workflow
from tests.fake_panda import FakePanda

pytest_plugins = ["tests.fake_panda"]  # the fake_panda fixture
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
LABELS = {"pipetaskInit": 1, "isr": 2, "finalJob": 1}


@pytest.fixture
def panda_env(fake_panda, tmp_path) -> dict[str, str]:
    return fake_panda.env(PANDA_CONFIG_ROOT=str(tmp_path / "pathena"))


@pytest.fixture
def panda(panda_env) -> PandaWms:
    return PandaWms(panda_env, timeout=10)


@pytest.fixture
def submit_config(tmp_path, demo_butler, monkeypatch) -> Path:
    """step1 of the demo pipeline for two detectors, rendered as cm does (PANDA_DEFAULTS under)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # `pipetask qgraph` imports the demo tasks
    here = tmp_path / "launch" / "attempt_1"
    config = deep_merge(
        PANDA_DEFAULTS,
        {
            "pipelineYaml": f"{REPO_ROOT}/examples/pipelines/demo.yaml#step1",
            "project": "test",
            "campaign": "test/demo",
            "operator": "cm",
            "submitPath": str(here / "submit"),
            "payload": {
                "payloadName": "demo_step1",
                "butlerConfig": str(demo_butler),
                "inCollection": "demo/raw",
                "dataQuery": "instrument = 'DemoCam' AND exposure = 1 AND detector IN (0, 1)",
                "outputRun": "u/test/run1",
                "output": "u/test/run1/chain",
            },
        },
    )
    here.mkdir(parents=True)
    path = here / "submit.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def submitted(fake: FakePanda) -> Submission:
    """A request as if cm had submitted it: pipetaskInit, isr over two detectors, finalJob."""
    return Submission(str(fake.add_request("u_test_run1", LABELS)), "/nowhere")


# -- submit ----------------------------------------------------------------------------------


def test_submit_prepares_the_step_and_creates_an_idds_request(panda, fake_panda, submit_config):
    submission = panda.submit(submit_config)

    request = fake_panda.requests[int(submission.wms_id)]
    assert request.name == "u_test_run1"
    assert {task.label: task.total for task in request.tasks} == LABELS
    submit_dir = Path(submission.submit_dir)
    assert submit_dir == submit_config.parent / "submit"
    assert (submit_dir / "panda_workflow.pickle").exists()
    assert (submit_dir / "panda_cache_box" / "u_test_run1.qg").exists()  # staged for the jobs
    assert fake_panda.log[-1].authorization == "Bearer cm-test-token"

    report = panda.report(submission)
    assert report.state == RunState.PENDING
    assert report.tasks == [TaskCounts("isr", expected=2, pending=2)]
    assert [(job.name, job.state) for job in report.jobs] == [
        ("pipetaskInit", RunState.PENDING),
        ("finalJob", RunState.PENDING),
    ]


def test_submitting_the_same_config_again_returns_the_first_request(
    panda, fake_panda, submit_config
):
    first = panda.submit(submit_config)
    assert panda.submit(submit_config) == first
    assert fake_panda.commands().count("submit") == 1


def test_a_failed_submit_leaves_nothing_in_the_way_of_the_next(panda, fake_panda, submit_config):
    fake_panda.fail("submit", "500")
    with pytest.raises(WmsUnavailable, match="submit failed"):
        panda.submit(submit_config)
    assert fake_panda.requests == {}

    fake_panda.heal()
    submission = panda.submit(submit_config)
    assert list(fake_panda.requests) == [int(submission.wms_id)]
    assert (submit_config.parent / "submit.failed-1" / "panda_workflow.pickle").exists()


def test_the_registry_knows_panda():
    assert isinstance(wms_registry.get("panda"), PandaWms)


# -- report: the state mapping ---------------------------------------------------------------

INIT_DONE = {"status": "Finished", "processed": 1}
STATES = {
    "running": (
        "Transforming",
        {
            "pipetaskInit": INIT_DONE,
            "isr": {"status": "Transforming", "processed": 1, "processing": 1},
        },
        RunState.RUNNING,
        TaskCounts("isr", expected=2, succeeded=1, running=1),
    ),
    "held": (
        "Suspended",
        {"pipetaskInit": INIT_DONE, "isr": {"status": "Suspended"}},
        RunState.HELD,
        TaskCounts("isr", expected=2, pending=2),
    ),
    "subfinished": (
        "SubFinished",
        {
            "pipetaskInit": INIT_DONE,
            "isr": {"status": "SubFinished", "processed": 1, "failed": 1},
            "finalJob": {"status": "Finished", "processed": 1},
        },
        RunState.FAILED,
        TaskCounts("isr", expected=2, succeeded=1, failed=1),
    ),
    "finished": (
        "Finished",
        {
            "pipetaskInit": INIT_DONE,
            "isr": {"status": "Finished", "processed": 2},
            "finalJob": {"status": "Finished", "processed": 1},
        },
        RunState.SUCCEEDED,
        TaskCounts("isr", expected=2, succeeded=2),
    ),
    "cancelled": (
        "Cancelled",
        {"pipetaskInit": INIT_DONE, "isr": {"status": "Cancelled"}},
        RunState.CANCELLED,
        TaskCounts("isr", expected=2, pending=2),
    ),
    "expired": (
        "Expired",
        {"pipetaskInit": INIT_DONE, "isr": {"status": "Failed", "failed": 1, "missing": 1}},
        RunState.FAILED,
        TaskCounts("isr", expected=2, failed=2),  # missing: will never be produced
    ),
    "new": ("New", {}, RunState.PENDING, TaskCounts("isr", expected=2, pending=2)),
}


@pytest.mark.parametrize(("status", "tasks", "state", "isr"), STATES.values(), ids=STATES)
def test_report_maps_the_idds_status(panda, fake_panda, status, tasks, state, isr):
    submission = submitted(fake_panda)
    fake_panda.set_state(int(submission.wms_id), status, **tasks)

    report = panda.report(submission)

    assert report.state == state
    assert report.tasks == [isr]
    assert not report.init_failed
    assert f"is {status}" in report.message


@pytest.mark.parametrize(("status", "tasks"), [v[:2] for v in STATES.values()], ids=STATES)
def test_one_look_counts_as_panda_service_report_does(panda, fake_panda, status, tasks):
    # cm reads the task rows once and counts them itself; PanDAService.report would fetch the
    # same rows a second time to count them. The two must agree on every state.
    from campaigns.wms import panda_client
    from campaigns.wms.panda import _look

    submission = submitted(fake_panda)
    request = int(submission.wms_id)
    fake_panda.set_state(request, status, **tasks)
    with panda_client.CLIENT.using(panda.env, 10):  # pandaclient reads it at import
        from lsst.ctrl.bps.panda import PanDAService

        _, summary, _ = _look(request)
        reports, _ = PanDAService(BpsConfig({})).report(wms_workflow_id=request)
    assert summary == reports[0].job_summary


def test_subfinished_names_what_failed(panda, fake_panda):
    submission = submitted(fake_panda)
    fake_panda.set_state(int(submission.wms_id), "SubFinished", **STATES["subfinished"][1])
    report = panda.report(submission)
    assert report.message == f"iDDS request {submission.wms_id} is SubFinished; isr 1 of 2 failed"
    assert {job.name: job.state for job in report.jobs if job.name in SPECIAL_JOBS} == {
        "pipetaskInit": RunState.SUCCEEDED,
        "finalJob": RunState.SUCCEEDED,
    }


def test_a_failed_pipetask_init_fails_the_run(panda, fake_panda):
    submission = submitted(fake_panda)
    fake_panda.set_state(
        int(submission.wms_id),
        "Failed",
        pipetaskInit={"status": "Failed", "failed": 1},
        isr={"status": "Failed", "missing": 2},
    )
    report = panda.report(submission)
    assert report.state == RunState.FAILED
    assert report.init_failed
    assert report.jobs[0].state == RunState.FAILED


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "garbage", "malformed", "auth"])
def test_report_faults_are_wms_unavailable(panda, fake_panda, fault):
    submission = submitted(fake_panda)
    fake_panda.fail("get_requests", fault)
    with pytest.raises(WmsUnavailable, match="PanDA report failed"):
        panda.report(submission)


def test_a_request_panda_does_not_know_is_wms_unavailable(panda):
    with pytest.raises(WmsUnavailable, match="no request 4242"):
        panda.report(Submission("4242", "/nowhere"))


def test_a_report_that_hangs_gives_up_at_its_timeout(panda_env, fake_panda):
    panda = PandaWms(panda_env, timeout=1)
    submission = submitted(fake_panda)
    fake_panda.fail("get_requests", "hang")
    started = time.monotonic()
    with pytest.raises(WmsUnavailable, match="no answer within 1 s"):
        panda.report(submission)
    assert time.monotonic() - started < 3

    fake_panda.heal()  # the abandoned call holds nothing: the next look works
    assert panda.report(submission).state == RunState.PENDING


def test_a_failed_login_exits_pandaclient_not_the_process(panda_env, fake_panda):
    # No token: pandaclient starts its OIDC device flow, the server refuses, sys.exit(255).
    env = {key: value for key, value in panda_env.items() if key != "PANDA_AUTH_ID_TOKEN"}
    with pytest.raises(WmsUnavailable, match="exited with code 255"):
        PandaWms(env).report(submitted(fake_panda))
    assert fake_panda.log[-1].path == "/auth/Rubin_auth_config.json"


def test_faults_leave_the_process_environment_as_it_was(panda, fake_panda, monkeypatch):
    monkeypatch.delenv("PANDA_URL_SSL", raising=False)
    monkeypatch.setenv("PANDA_AUTH", "x509")  # someone else's setting: back afterwards
    before = dict(os.environ)
    submission = submitted(fake_panda)
    panda.report(submission)
    client_url = sys.modules["pandaclient.Client"].baseURLSSL
    fake_panda.fail("get_requests", "500")
    with pytest.raises(WmsUnavailable):
        panda.report(submission)
    assert dict(os.environ) == before
    assert sys.modules["pandaclient.Client"].baseURLSSL == client_url


def test_concurrent_looks_share_the_client_and_then_restore_the_environment(panda, fake_panda):
    before = dict(os.environ)
    submissions = [submitted(fake_panda) for _ in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # as cm's poll does
        reports = list(pool.map(panda.report, submissions))
    assert {report.state for report in reports} == {RunState.PENDING}
    assert dict(os.environ) == before


def test_each_instance_talks_to_its_own_server(panda, fake_panda, tmp_path):
    # pandaclient reads its URLs once, at import: the adapter sets them for every call.
    other = FakePanda().start()
    try:
        elsewhere = PandaWms(other.env(PANDA_CONFIG_ROOT=str(tmp_path / "other")))
        here, there = submitted(fake_panda), submitted(other)
        fake_panda.set_state(int(here.wms_id), "Finished")
        assert elsewhere.report(there).state == RunState.PENDING
        assert panda.report(here).state == RunState.SUCCEEDED
        assert other.commands() == ["get_requests"]  # one look-up per report
    finally:
        other.stop()


def test_without_a_panda_url_nothing_is_asked(fake_panda, tmp_path):
    with pytest.raises(WmsUnavailable, match="PANDA_URL is not set"):
        PandaWms({"PANDA_CONFIG_ROOT": str(tmp_path)}).report(submitted(fake_panda))
    assert fake_panda.log == []


# -- cancel ----------------------------------------------------------------------------------


def test_cancel_aborts_the_idds_request(panda, fake_panda):
    submission = submitted(fake_panda)
    panda.cancel(submission)
    abort = [entry for entry in fake_panda.log if entry.command == "abort"]
    assert [entry.kwargs for entry in abort] == [{"request_id": int(submission.wms_id)}]
    assert fake_panda.requests[int(submission.wms_id)].status == "ToCancel"


def test_cancel_faults_are_wms_unavailable(panda, fake_panda):
    fake_panda.fail("abort", "500")
    with pytest.raises(WmsUnavailable, match="did not cancel"):
        panda.cancel(submitted(fake_panda))


# -- jobs and their resource use -------------------------------------------------------------

STARTED = datetime(2026, 11, 3, 10, 0, 0)


def scripted(fake: FakePanda, request_id: int, case: str) -> None:
    """The request and its tasks as in one of the STATES cases."""
    status, tasks = STATES[case][:2]
    fake.set_state(request_id, status, **tasks)


def finished_job(seconds: int, rss_kb: int, **more) -> dict:
    """What iDDS keeps of a PanDA job that ran ``seconds`` with peak RSS ``rss_kb`` (kB)."""
    return {
        "job_status": "finished",
        "attempt_nr": 1,
        "start_time": STARTED,
        "end_time": STARTED + timedelta(seconds=seconds),
        "max_rss": rss_kb,
        "max_pss": rss_kb - 100,
        "computing_site": "SLAC",
    } | more


def test_an_ended_request_reports_every_panda_job_with_its_resource_use(panda, fake_panda):
    submission = submitted(fake_panda)
    request_id = int(submission.wms_id)
    fake_panda.set_state(request_id, "SubFinished", **STATES["subfinished"][1])
    fake_panda.set_job(request_id, "pipetaskInit", 0, panda_id=7001, **finished_job(30, 512_000))
    fake_panda.set_job(request_id, "isr", 0, panda_id=7002, **finished_job(90, 2_097_152))
    fake_panda.set_job(
        request_id,
        "isr",
        1,
        panda_id=7003,
        **finished_job(
            45,
            4_194_304,
            job_status="failed",
            attempt_nr=3,
            pilot_error_code=1305,
            pilot_error_diag="Payload ran out of memory",
            trans_exit_code=137,
        ),
    )

    report = panda.report(submission)

    jobs = {job.wms_job_id: job for job in report.jobs}
    assert set(jobs) == {"7001", "7002", "7003", ""}  # finalJob: no PanDA record yet
    init, good, bad = jobs["7001"], jobs["7002"], jobs["7003"]
    assert (init.name, init.task_labels, init.state) == ("pipetaskInit", [], RunState.SUCCEEDED)
    assert (init.wall_seconds, init.max_rss_mb) == (30.0, 500.0)
    assert (good.task_labels, good.state, good.attempts) == (["isr"], RunState.SUCCEEDED, 1)
    assert (good.wall_seconds, good.max_rss_mb, good.error) == (90.0, 2048.0, "")
    assert (bad.state, bad.attempts, bad.wall_seconds, bad.max_rss_mb) == (
        RunState.FAILED,
        3,
        45.0,
        4096.0,
    )
    assert bad.error == "pilot error 1305: Payload ran out of memory; exit code 137"
    assert "+" not in good.name and good.name != bad.name  # BPS's job names
    final = jobs[""]
    assert (final.name, final.state, final.wall_seconds) == ("finalJob", RunState.SUCCEEDED, None)


def test_a_running_request_is_not_asked_for_its_job_table(panda, fake_panda):
    submission = submitted(fake_panda)
    scripted(fake_panda, int(submission.wms_id), "running")
    report = panda.report(submission)
    assert "get_contents_output_ext" not in fake_panda.commands()
    assert [job.name for job in report.jobs] == ["pipetaskInit", "finalJob"]
    assert {job.wall_seconds for job in report.jobs} == {None}


@pytest.mark.parametrize("fault", ["500", "malformed", "hang"])
def test_an_ended_request_is_reported_even_when_its_job_table_is_not(panda_env, fake_panda, fault):
    submission = submitted(fake_panda)
    scripted(fake_panda, int(submission.wms_id), "finished")
    fake_panda.fail("get_contents_output_ext", fault)
    report = PandaWms(panda_env, timeout=1).report(submission)
    assert report.state == RunState.SUCCEEDED
    assert [(job.name, job.state) for job in report.jobs] == [
        ("pipetaskInit", RunState.SUCCEEDED),
        ("finalJob", RunState.SUCCEEDED),
    ]


def test_a_submitted_workflows_jobs_are_named_as_bps_named_them(panda, fake_panda, submit_config):
    submission = panda.submit(submit_config)
    scripted(fake_panda, int(submission.wms_id), "finished")
    jobs = panda.report(submission).jobs
    assert sorted(job.name for job in jobs if not job.task_labels) == ["finalJob", "pipetaskInit"]
    isr = [job for job in jobs if job.task_labels == ["isr"]]
    assert len({job.name for job in isr}) == 2
    assert all("isr" in job.name and "+" not in job.name for job in isr)


@pytest.mark.django_db
def test_the_poll_stores_each_panda_jobs_wall_time_and_peak_memory(
    panda_env, fake_panda, monkeypatch
):
    for key, value in panda_env.items():
        monkeypatch.setenv(key, value)
    request_id = int(submitted(fake_panda).wms_id)
    workflow = make_workflow(status=Status.RUNNING, wms="panda", wms_id=str(request_id))
    scripted(fake_panda, request_id, "finished")
    fake_panda.set_job(request_id, "isr", 1, panda_id=7002, **finished_job(90, 2_097_152))

    polling.poll()

    assert Workflow.objects.get(pk=workflow.pk).status == Status.SUCCEEDED
    job = Job.objects.get(workflow=workflow, wms_job_id="7002")
    assert (job.status, job.task_labels, job.attempts) == (Status.SUCCEEDED, ["isr"], 1)
    assert (job.wall_seconds, job.max_rss_mb) == (90.0, 2048.0)
    assert Job.objects.filter(workflow=workflow).count() == 4

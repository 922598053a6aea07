"""The local WMS for real: BPS runs the demo pipeline through parsl on this machine.

Each test gets its own copy of the demo repository, with a group's TAGGED input (demo_raw of
exposure 1, detectors 0 and 1) built here, and submits configs rendered as cm renders them.
Failures are forced with pipe_base's mocks (``--mock ... --mock-failure``).
"""

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from lsst.daf.butler import Butler, CollectionType

from campaigns.demo.repo import raw_array
from campaigns.wms import get as get_wms
from campaigns.wms import local_runner
from campaigns.wms.base import RunReport, RunState, Submission, WmsUnavailable
from campaigns.wms.local import LocalSubmitError, LocalWms, control_dir

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "examples" / "pipelines" / "demo.yaml"
GROUP = "demo-dp/test/step1/g000"
INPUT = f"{GROUP}/input"
MOCK = "--mock --unmocked-dataset-types demo_raw"

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(demo_butler) -> Path:
    """The demo repository with the group's TAGGED input: exposure 1, detectors 0 and 1."""
    with Butler.from_config(str(demo_butler), writeable=True) as butler:
        butler.registry.registerCollection(INPUT, CollectionType.TAGGED)
        refs = butler.query_datasets(
            "demo_raw",
            collections="demo/raw",
            where="instrument = 'DemoCam' AND exposure = 1 AND detector IN (0, 1)",
        )
        butler.registry.associate(INPUT, refs)
    return Path(demo_butler)


def render(tmp_path: Path, repo: Path, attempt: int, **extra: str) -> Path:
    """A BPS submit config as cm renders one for attempt ``attempt`` of the group."""
    launch = tmp_path / "launch" / f"attempt_{attempt}"
    config = {
        "pipelineYaml": f"{PIPELINE}#step1,step2",
        "project": "demo-dp",
        "campaign": "demo-dp/test",
        "operator": "cm",
        "payload": {
            "payloadName": f"demo-dp_test_step1_g000_attempt_{attempt}",
            "butlerConfig": str(repo),
            "inCollection": INPUT,
            "dataQuery": "instrument = 'DemoCam' AND (detector IN (0, 1))",
            "outputRun": f"{GROUP}/attempt_{attempt}",
        },
        "pipetaskOutput": "",
        "extraAggregateOptions": "--mock-storage-classes -o {submitPath}/provenance.qg",
        "finalJob": {"requestCpus": 1},
        "submitPath": str(launch / "submit"),
        "wmsServiceClass": "lsst.ctrl.bps.parsl.ParslService",
        "computeSite": "local",
        "site": {"local": {"class": "lsst.ctrl.bps.parsl.sites.Local", "cores": 2, "retries": 0}},
        **extra,
    }
    launch.mkdir(parents=True)
    path = launch / "submit.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for_end(wms: LocalWms, submission: Submission, timeout: float = 180) -> RunReport:
    deadline = time.monotonic() + timeout
    while (report := wms.report(submission)).state in (RunState.PENDING, RunState.RUNNING):
        assert time.monotonic() < deadline, f"still {report.state} after {timeout} s"
        time.sleep(1)
    return report


def counts(report: RunReport) -> dict[str, tuple[int, int, int]]:
    return {t.label: (t.expected, t.succeeded, t.failed) for t in report.tasks}


def detectors(repo: Path, dataset_type: str, run: str) -> list[int]:
    with Butler.from_config(str(repo)) as butler:
        refs = butler.query_datasets(dataset_type, collections=run, explain=False)
        return sorted(ref.dataId["detector"] for ref in refs)


def collections(repo: Path) -> set[str]:
    with Butler.from_config(str(repo)) as butler:
        return {info.name for info in butler.collections.query_info("demo-dp/*")}


def test_wms_registry_names_the_local_wms():
    assert isinstance(get_wms("local"), LocalWms)


def test_run_succeeds_and_submitting_again_starts_nothing(tmp_path, repo):
    config = render(tmp_path, repo, 1)
    wms = LocalWms()
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:  # two workers launching the same workflow at once
        first, second = pool.map(lambda _: wms.submit(config), range(2))
    assert time.monotonic() - started < 10  # returns without waiting for the run
    assert first == second == wms.submit(config)
    submit_dir = tmp_path / "launch" / "attempt_1" / "submit"
    assert first == Submission(wms_id=str(submit_dir), submit_dir=str(submit_dir))
    # A runner left by a launch that crashed after starting it does nothing either.
    control = control_dir(submit_dir)
    orphan = [sys.executable, "-m", "campaigns.wms.local_runner", str(control), str(config)]
    subprocess.run(orphan, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert wms.report(first).state in (RunState.PENDING, RunState.RUNNING)

    report = wait_for_end(wms, first)

    assert report.state == RunState.SUCCEEDED, report.message
    assert counts(report) == {"isr": (2, 2, 0), "calibrate": (2, 2, 0)}
    assert report.failed_quanta == [] and not report.init_failed
    assert [j.name for j in report.jobs if j.task_labels == []] == ["pipetaskInit", "finalJob"]
    assert len(report.jobs) == 6 and {j.state for j in report.jobs} == {RunState.SUCCEEDED}
    assert all(path.exists() for path in report.files)
    assert control / "bps.log" in report.files
    assert (control / "runner.log").read_text().count("starting bps submit") == 1
    assert detectors(repo, "demo_calexp", f"{GROUP}/attempt_1") == [0, 1]
    with Butler.from_config(str(repo), collections=f"{GROUP}/attempt_1") as butler:
        for detector in (0, 1):
            array = butler.get("demo_calexp", instrument="DemoCam", exposure=1, detector=detector)
            np.testing.assert_allclose(array, (raw_array(1, detector) * 2 - 1) * 0.5 + 10)
    assert collections(repo) == {INPUT, f"{GROUP}/attempt_1"}  # the RUN, and no chain
    assert wms.report(first) == report  # the final report is kept
    assert wms.submit(config) == first and wms.report(first) == report


def test_forced_failure_then_retry_redoes_only_what_failed(tmp_path, repo):
    wms = LocalWms()
    failing = render(tmp_path, repo, 1, extraQgraphOptions=f"{MOCK} --mock-failure isr::detector=1")

    report = wait_for_end(wms, wms.submit(failing))

    assert report.state == RunState.FAILED
    # The failed quantum, and the one it blocked: neither will produce output.
    assert counts(report) == {"isr": (2, 1, 1), "calibrate": (2, 1, 1)}
    assert not report.init_failed
    [failed] = report.failed_quanta
    assert failed.task_label == "isr"
    assert failed.data_id == {"instrument": "DemoCam", "exposure": 1, "detector": 1}
    assert failed.error_type == "ValueError" and "Simulated failure" in failed.message
    states = sorted(j.state for j in report.jobs)
    assert states.count(RunState.FAILED) == 1 and states.count(RunState.CANCELLED) == 1
    [job] = [j for j in report.jobs if j.state == RunState.FAILED]
    assert job.task_labels == ["isr"] and "Simulated failure" in job.error
    assert any(path.suffix == ".stderr" for path in report.files)  # the failed job's log

    first_run = f"{GROUP}/attempt_1"
    retry = render(tmp_path, repo, 2, extraQgraphOptions=f"{MOCK} --skip-existing-in {first_run}")
    report = wait_for_end(wms, wms.submit(retry))

    assert report.state == RunState.SUCCEEDED, report.message
    assert counts(report) == {"isr": (1, 1, 0), "calibrate": (1, 1, 0)}
    assert detectors(repo, "_mock_demo_calexp", f"{GROUP}/attempt_2") == [1]
    assert detectors(repo, "_mock_demo_calexp", first_run) == [0]  # kept


def test_pipetask_init_failure_is_reported(tmp_path, repo):
    wms = LocalWms()
    config = render(tmp_path, repo, 1, extraInitOptions="--no-such-option")

    report = wait_for_end(wms, wms.submit(config))

    assert report.state == RunState.FAILED and report.init_failed
    assert "No such option" in report.message
    assert {j.name: j.state for j in report.jobs}["pipetaskInit"] == RunState.FAILED
    assert report.failed_quanta == []


def test_cancel_stops_the_run_and_its_workers(tmp_path, repo):
    wms = LocalWms()
    submission = wms.submit(render(tmp_path, repo, 1))
    deadline = time.monotonic() + 60
    while not any(  # a quantum is running: parsl's workers are up
        j.state == RunState.RUNNING and j.task_labels for j in wms.report(submission).jobs
    ):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    control = control_dir(Path(submission.submit_dir))
    session = local_runner.read_json(control / "started.json")["sid"]

    cancelling = time.monotonic()
    wms.cancel(submission)

    assert time.monotonic() - cancelling < 15
    report = wms.report(submission)
    assert report.state == RunState.CANCELLED
    assert local_runner.session_members(session) == []
    wms.cancel(submission)  # nothing left to stop


def test_report_on_a_run_that_was_never_started_is_unavailable(tmp_path):
    missing = str(tmp_path / "nowhere" / "submit")
    with pytest.raises(WmsUnavailable):
        LocalWms().report(Submission(wms_id=missing, submit_dir=missing))


def test_submit_refuses_a_submit_path_bps_would_have_to_expand(tmp_path):
    config = tmp_path / "submit.yaml"
    config.write_text(yaml.safe_dump({"submitPath": "${PWD}/submit/{outputRun}"}))
    with pytest.raises(LocalSubmitError, match="plain absolute path"):
        LocalWms().submit(config)

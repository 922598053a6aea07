"""The demo butler repository and pipeline: real data that really splits and really runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lsst.daf.butler import Butler
from lsst.pipe.base.simple_pipeline_executor import SimplePipelineExecutor

from campaigns.demo.repo import DemoRepoError, build_demo_repo, raw_mean

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "examples" / "pipelines" / "demo.yaml"
PIPETASK = Path(sys.executable).parent / "pipetask"


def test_repo_holds_16_detectors_by_3_exposures_of_raws(demo_repo_template):
    with Butler.from_config(str(demo_repo_template)) as butler:
        refs = butler.query_datasets("demo_raw", collections="demo/raw", limit=None)
        assert len(refs) == 48
        assert {r.dataId["detector"] for r in refs} == set(range(16))
        assert {r.dataId["exposure"] for r in refs} == {1, 2, 3}
        one = butler.get(
            "demo_raw", instrument="DemoCam", exposure=2, detector=5, collections="demo/raw"
        )
        assert one.mean() == raw_mean(2, 5)


def test_data_query_splits_the_raws(demo_repo_template):
    with Butler.from_config(str(demo_repo_template)) as butler:
        data_ids = butler.registry.queryDataIds(
            ["exposure", "detector"],
            datasets="demo_raw",
            collections="demo/raw",
            where="instrument='DemoCam' AND detector < 4",
        )
        assert data_ids.count() == 12


def test_each_test_gets_an_independent_copy(demo_repo, demo_repo_template):
    data_id = {"instrument": "DemoCam", "exposure": 1, "detector": 0}
    with Butler.from_config(str(demo_repo), writeable=True) as butler:
        butler.registry.registerRun("mine")
        ref = butler.put(np.zeros(3), "demo_raw", data_id, run="mine")
        # The copy's registry and files are its own, not the template's.
        assert butler.getURI(ref).ospath.startswith(f"{demo_repo}/")
        assert butler.getURI("demo_raw", data_id, collections="demo/raw").ospath.startswith(
            f"{demo_repo}/"
        )
    with Butler.from_config(str(demo_repo_template)) as template:
        assert "mine" not in template.collections.query("*")
        assert (
            len(template.query_datasets("demo_raw", collections="*", find_first=False, limit=None))
            == 48
        )


def test_build_refuses_an_existing_repo_unless_overwrite(demo_repo):
    with pytest.raises(DemoRepoError, match="already holds a butler repository"):
        build_demo_repo(demo_repo)
    made = build_demo_repo(demo_repo, detectors=2, exposures=1, overwrite=True)
    assert made.datasets == 2


def run_step(repo: Path, step: str, inputs: list[str], where: str) -> str:
    """Run one subset of the demo pipeline in-process; return its output (CHAINED) collection."""
    output = f"u/test/{step}"
    butler = SimplePipelineExecutor.prep_butler(str(repo), inputs=inputs, output=output)
    executor = SimplePipelineExecutor.from_pipeline_filename(
        f"{PIPELINE}#{step}", where=where, butler=butler
    )
    assert executor.run(register_dataset_types=True)
    return output


@pytest.mark.slow
def test_the_pipeline_runs_step_by_step(demo_repo):
    where = "instrument='DemoCam' AND exposure=1 AND detector < 2"
    out1 = run_step(demo_repo, "step1", ["demo/raw"], where)
    out2 = run_step(demo_repo, "step2", [out1], where)
    out3 = run_step(demo_repo, "step3", [out2], where)

    with Butler.from_config(str(demo_repo), collections=[out3]) as butler:
        for detector in (0, 1):
            data_id = {"instrument": "DemoCam", "exposure": 1, "detector": detector}
            postisr = 2.0 * raw_mean(1, detector) - 1.0  # isr: scale 2, offset -1
            assert butler.get("demo_postisr", data_id).mean() == postisr
            assert butler.get("demo_calexp", data_id).mean() == 0.5 * postisr + 10.0
        summary = butler.get("demo_exposure_summary", instrument="DemoCam", exposure=1)
        assert summary == {"exposure": 1, "detectors": 2, "mean": {0: 117.0, 1: 118.0}}
        assert len(butler.query_datasets("demo_calexp", limit=None)) == 2


@pytest.mark.slow
def test_pipetask_mock_failure_fails_the_chosen_quantum(demo_repo, tmp_path):
    summary = tmp_path / "summary.json"
    command = [
        str(PIPETASK), "run", "-b", str(demo_repo), "-i", "demo/raw", "-o", "u/test/mock",
        "-p", f"{PIPELINE}#step1", "--register-dataset-types",
        "-d", "instrument='DemoCam' AND exposure=1 AND detector IN (0,1,2)",
        "--mock", "--unmocked-dataset-types", "demo_raw", "--mock-failure", "isr::detector=1",
        "--summary", str(summary),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the tasks must import without Django
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)

    assert result.returncode == 1, result.stderr[-2000:]
    reports = json.loads(summary.read_text())["quantaReports"]
    by_status = {}
    for report in reports:
        assert report["taskLabel"] == "_mock_isr"  # mocked tasks are relabelled
        by_status.setdefault(report["status"], []).append(report["dataId"]["detector"])
    assert by_status == {"success": [0, 2], "failure": [1]}
    failed = next(r for r in reports if r["status"] == "failure")
    assert "Simulated failure" in failed["exceptionInfo"]["message"]

"""Data products: what a finished attempt's RUN holds, per dataset type, recorded with the RUN.

Every test runs against its own copy of the demo repository (tests/conftest.py); an attempt's
outputs are made by really running step1 of the demo pipeline in-process into its RUN.
"""

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from lsst.daf.butler import Butler, DatasetRef, DatasetType, FileDataset
from lsst.pipe.base.simple_pipeline_executor import SimplePipelineExecutor

from campaigns.butler import adapter
from campaigns.models import DataProduct, Group, Workflow
from campaigns.services import collections
from campaigns.services.create import create_from_file
from tests.builders import make_workflow

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "examples" / "pipelines" / "demo.yaml"

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def target(demo_butler) -> Group:
    """The demo test campaign's first group: detectors 0 and 1 of exposures 1 to 3."""
    create_from_file("production", ROOT / "examples" / "production.yaml")
    return Group.objects.get(step__campaign__name="test", step__name="step1", name="g000")


def run_step1(group: Group) -> Workflow:
    """A new attempt of ``group`` whose RUN really holds step1's outputs (not yet recorded)."""
    workflow = make_workflow(group)
    butler = Butler.from_config(
        butler=adapter.repo("demo").butler,
        collections=[group.input_collection],
        run=workflow.output_run,
    )
    executor = SimplePipelineExecutor.from_pipeline_filename(f"{PIPELINE}#step1", butler=butler)
    assert executor.run(register_dataset_types=True)
    return workflow


def products(workflow: Workflow) -> dict[str, DataProduct]:
    return {p.dataset_type: p for p in DataProduct.objects.filter(workflow=workflow)}


def on_disk(run: str, dataset_type: str) -> int:
    butler = adapter.repo("demo").butler
    refs = butler.query_datasets(dataset_type, collections=run, find_first=False)
    return sum(butler.getURI(ref).size() for ref in refs)


def test_recording_a_run_records_each_dataset_type_it_holds(target):
    workflow = run_step1(target)
    collections.record_run(workflow)

    found = products(workflow)
    assert set(found) == {"demo_postisr", "isr_config", "isr_log", "isr_metadata", "packages"}
    postisr = found["demo_postisr"]
    assert (postisr.count, postisr.storage_class) == (6, "NumpyArray")
    assert postisr.dimensions == ["instrument", "detector", "exposure"]
    assert (found["isr_config"].count, found["isr_config"].dimensions) == (1, [])
    for name, product in found.items():  # from the datastore's records, as on disk
        assert product.size_bytes == on_disk(workflow.output_run, name) > 0, name


def test_recording_again_replaces_the_rows_with_what_the_run_holds_now(target):
    workflow = run_step1(target)
    collections.record_run(workflow)
    butler = adapter.repo("demo").butler
    refs = butler.query_datasets("demo_postisr", collections=workflow.output_run)
    butler.pruneDatasets(refs[:2], purge=True, unstore=True, disassociate=True)

    collections.record_products(workflow)
    collections.record_products(workflow)

    assert DataProduct.objects.filter(workflow=workflow).count() == 5
    postisr = products(workflow)["demo_postisr"]
    assert postisr.count == 4
    assert postisr.size_bytes == on_disk(workflow.output_run, "demo_postisr")


def test_a_size_the_datastore_does_not_know_is_left_empty(target, tmp_path):
    workflow = make_workflow(target)
    butler = adapter.repo("demo").butler
    butler.collections.register(workflow.output_run)
    summary = DatasetType(
        "ingested_summary", ["instrument"], "StructuredDataDict", universe=butler.dimensions
    )
    butler.registry.registerDatasetType(summary)
    path = tmp_path / "summary.yaml"
    path.write_text(yaml.safe_dump({"quanta": 6}))
    ref = DatasetRef(summary, {"instrument": "DemoCam"}, run=workflow.output_run)
    # Ingested without validation information: the datastore records no size (-1).
    butler.ingest(FileDataset(str(path), ref), transfer="copy", record_validation_info=False)

    collections.record_run(workflow)

    product = products(workflow)["ingested_summary"]
    assert (product.count, product.storage_class, product.size_bytes) == (
        1,
        "StructuredDataDict",
        None,
    )


def test_a_butler_without_datastore_records_gives_no_size():
    remote = adapter.Repo("remote", "https://butler.example.org/repo", SimpleNamespace())
    assert remote._total_size([object()]) is None


def test_a_butler_failure_counting_products_leaves_the_run_chained(target, monkeypatch, caplog):
    def fail(self, run):
        raise adapter.ButlerError("the registry went away")

    workflow = run_step1(target)
    monkeypatch.setattr(adapter.Repo, "run_products", fail)
    with caplog.at_level(logging.WARNING, logger="campaigns.services.collections"):
        collections.record_run(workflow)

    butler = adapter.repo("demo").butler
    assert list(butler.collections.get_info(target.output_collection).children) == [
        workflow.output_run
    ]
    assert not DataProduct.objects.exists()
    assert "data products were not recorded" in caplog.text

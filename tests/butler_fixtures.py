"""Butler fixtures: the demo repository, built once per test session and copied for each test.

The repository's config locates its registry and datastore through ``<butlerRoot>`` (relative to
wherever butler.yaml is), so a plain directory copy is a working, independent repository.
"""

import shutil
from pathlib import Path

import pytest

from campaigns.demo.repo import build_demo_repo


@pytest.fixture(scope="session")
def demo_repo_template(tmp_path_factory) -> Path:
    """The demo repository (DemoCam, 16 detectors x 3 exposures of demo_raw); never write to it."""
    root = tmp_path_factory.mktemp("demo-template") / "repo"
    build_demo_repo(root)
    return root


@pytest.fixture
def demo_repo(demo_repo_template, tmp_path) -> Path:
    """A private copy of the demo repository for one test, free to write to."""
    return Path(shutil.copytree(demo_repo_template, tmp_path / "repo"))

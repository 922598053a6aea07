"""Build the demo butler repository: instrument DemoCam, its detectors, exposures and raw arrays.

Everything cm's demo and tests rely on is named here:

- instrument ``DemoCam`` with detectors ``0 .. detectors-1`` and exposures ``1 .. exposures``
  (all on day_obs 20260101, physical filter ``DemoCam-r``, band ``r``);
- one input dataset type ``demo_raw`` (dimensions instrument, exposure, detector; storage class
  ``NumpyArray``), one dataset per (exposure, detector) in the RUN collection ``demo/raw``.

The raw array of (exposure, detector) is ``RAW_SHAPE`` values ``0, 1, 2, ...`` plus
``100 * exposure + detector``, so its mean is ``raw_mean(exposure, detector)``.
"""

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INSTRUMENT = "DemoCam"
RAW_DATASET_TYPE = "demo_raw"
RAW_COLLECTION = "demo/raw"
RAW_DIMENSIONS = ("instrument", "exposure", "detector")
RAW_SHAPE = (4, 4)
PHYSICAL_FILTER = "DemoCam-r"
BAND = "r"
DAY_OBS = 20260101


class DemoRepoError(Exception):
    """The demo repository cannot be built where asked (e.g. a repository is already there)."""


@dataclass(frozen=True)
class DemoRepo:
    """What ``build_demo_repo`` made, for a caller to report."""

    root: Path
    detectors: int
    exposures: int
    datasets: int
    seconds: float


def raw_array(exposure: int, detector: int) -> np.ndarray:
    """The raw array stored for (exposure, detector): deterministic, distinct for every pair."""
    base = np.arange(np.prod(RAW_SHAPE), dtype=np.float64).reshape(RAW_SHAPE)
    return base + 100 * exposure + detector


def raw_mean(exposure: int, detector: int) -> float:
    """The mean of ``raw_array(exposure, detector)``."""
    return (np.prod(RAW_SHAPE) - 1) / 2 + 100 * exposure + detector


def build_demo_repo(
    root: Path, *, detectors: int = 16, exposures: int = 3, overwrite: bool = False
) -> DemoRepo:
    """Create the demo repository at ``root`` (see the module docstring for its contents).

    Refuses if ``root`` already holds a butler repository, unless ``overwrite`` (which deletes
    it first), and refuses a non-empty directory that is not a repository in any case.
    """
    from lsst.daf.butler import Butler  # ~2 s of imports: only when a repository is built

    started = time.monotonic()
    root = Path(root)
    _clear(root, overwrite=overwrite)
    Butler.makeRepo(str(root))
    with Butler.from_config(str(root), writeable=True) as butler:
        _insert_dimensions(butler, detectors=detectors, exposures=exposures)
        count = _put_raws(butler, detectors=detectors, exposures=exposures)
    return DemoRepo(root, detectors, exposures, count, time.monotonic() - started)


def _clear(root: Path, *, overwrite: bool) -> None:
    if (root / "butler.yaml").exists():
        if not overwrite:
            raise DemoRepoError(
                f"{root} already holds a butler repository; "
                "rebuild it with overwrite (cm demo-repo --overwrite)"
            )
        shutil.rmtree(root)
    elif root.exists() and any(root.iterdir()):
        raise DemoRepoError(f"{root} is not empty and is not a butler repository; not touching it")


def _insert_dimensions(butler, *, detectors: int, exposures: int) -> None:
    registry = butler.registry
    registry.insertDimensionData(
        "instrument",
        {
            "name": INSTRUMENT,
            "detector_max": detectors,
            "exposure_max": 1_000_000,
            "visit_max": 1_000_000,
        },
    )
    registry.insertDimensionData(
        "physical_filter", {"instrument": INSTRUMENT, "name": PHYSICAL_FILTER, "band": BAND}
    )
    registry.insertDimensionData(
        "detector",
        *[
            {"instrument": INSTRUMENT, "id": d, "full_name": f"D{d:02d}", "purpose": "SCIENCE"}
            for d in range(detectors)
        ],
    )
    registry.insertDimensionData("day_obs", {"instrument": INSTRUMENT, "id": DAY_OBS})
    groups = [{"instrument": INSTRUMENT, "name": f"demo-{e:03d}"} for e in range(1, exposures + 1)]
    registry.insertDimensionData("group", *groups)
    registry.insertDimensionData(
        "exposure",
        *[
            {
                "instrument": INSTRUMENT,
                "id": e,
                "obs_id": f"DemoCam_{DAY_OBS}_{e:06d}",
                "day_obs": DAY_OBS,
                "group": f"demo-{e:03d}",
                "physical_filter": PHYSICAL_FILTER,
                "seq_num": e,
                "exposure_time": 30.0,
                "observation_type": "science",
            }
            for e in range(1, exposures + 1)
        ],
    )


def _put_raws(butler, *, detectors: int, exposures: int) -> int:
    from lsst.daf.butler import DatasetType

    dataset_type = DatasetType(
        RAW_DATASET_TYPE, RAW_DIMENSIONS, "NumpyArray", universe=butler.dimensions
    )
    butler.registry.registerDatasetType(dataset_type)
    butler.registry.registerRun(RAW_COLLECTION)
    count = 0
    for exposure in range(1, exposures + 1):
        for detector in range(detectors):
            data_id = {"instrument": INSTRUMENT, "exposure": exposure, "detector": detector}
            butler.put(raw_array(exposure, detector), dataset_type, data_id, run=RAW_COLLECTION)
            count += 1
    return count

"""The only module that talks to daf_butler.

Butler instances are cached per repository, and daf_butler is imported on
first use, so the web process starts fast and a worker opens each repository
once. Every method names collections as cm does; errors from the butler come
out as ``ButlerError`` with the repository and collection in the message.
"""

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from campaigns.errors import CampaignError

if TYPE_CHECKING:
    from lsst.daf.butler import Butler

_cache: dict[str, "Repo"] = {}
_lock = threading.Lock()


class ButlerError(CampaignError):
    """The butler refused or failed an operation cm asked for."""


@dataclass(frozen=True)
class CollectionState:
    name: str
    type: str  # RUN, TAGGED, CHAINED, CALIBRATION
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProductInfo:
    """One dataset type's datasets in a RUN collection."""

    dataset_type: str
    storage_class: str
    dimensions: tuple[str, ...]  # the required dimensions: what identifies one dataset
    count: int
    size_bytes: int | None  # None unless the datastore recorded every file's size


def resolve(label: str) -> str:
    """A repository label from ``CM_BUTLER_REPOSITORIES``, or the path/URI as given."""
    return settings.CM_BUTLER_REPOSITORIES.get(label, label)


def repo(label: str) -> "Repo":
    """The cached, writeable butler for ``label``, refreshed.

    Other processes (pipetask, BPS jobs) register dataset types and collections
    in the same registry; a cached butler does not see them until refreshed,
    and would then miss their datasets in queries and removals.
    """
    location = resolve(label)
    with _lock:
        if location not in _cache:
            _cache[location] = Repo(label, location, _open(label, location))
        else:
            _cache[location].butler.registry.refresh()
        return _cache[location]


def forget() -> None:
    """Drop every cached butler (tests, and after a repository is replaced)."""
    with _lock:
        _cache.clear()


def _open(label: str, location: str) -> "Butler":
    from lsst.daf.butler import Butler

    if "://" not in location and not os.path.exists(location):
        raise ButlerError(f"butler repository {label!r} not found at {location}")
    try:
        return Butler.from_config(location, writeable=True)
    except Exception as error:  # daf_butler raises many kinds; all mean "cannot open"
        raise ButlerError(
            f"cannot open butler repository {label!r} ({location}): {error}"
        ) from error


class Repo:
    """One butler repository, with the operations cm's bookkeeping needs."""

    def __init__(self, label: str, location: str, butler: "Butler"):
        self.label, self.location, self.butler = label, location, butler

    # --- reading --------------------------------------------------------------

    def existing(self, names: Iterable[str]) -> dict[str, CollectionState]:
        """The collections among ``names`` that exist, with their type and children."""
        wanted = set(names)
        if not wanted:
            return {}
        prefix = os.path.commonprefix(sorted(wanted))  # noqa: RUF071 (a glob prefix, by character)
        if len(prefix) >= 3 and not any(c in prefix for c in "*?[]"):
            found = self._query([prefix + "*"])
        else:
            found = {}
            for name in wanted:
                found |= self._query([name], missing_ok=True)
        return {name: state for name, state in found.items() if name in wanted}

    def matching(self, pattern: str) -> dict[str, CollectionState]:
        """Every collection whose name matches the glob ``pattern``."""
        return self._query([pattern])

    def _query(self, patterns: list[str], missing_ok: bool = False) -> dict[str, CollectionState]:
        from lsst.daf.butler import MissingCollectionError

        try:
            infos = self.butler.collections.query_info(patterns, include_chains=True)
        except MissingCollectionError:
            if missing_ok:
                return {}
            raise
        return {
            info.name: CollectionState(info.name, info.type.name, tuple(info.children))
            for info in infos
        }

    def parents(self, name: str) -> frozenset[str]:
        return frozenset(self.butler.collections.get_info(name, include_parents=True).parents or ())

    def dimension_values(
        self, dimension: str, dataset_types: Sequence[str], collections: Sequence[str], where: str
    ) -> list[Any]:
        """The distinct values of ``dimension`` among the datasets found (sorted)."""
        values: set[Any] = set()
        for dataset_type in dataset_types:
            data_ids = self._call(
                f"querying {dimension} values of {dataset_type}",
                # Materialised inside the call: the query runs lazily, on iteration.
                lambda dt=dataset_type: list(
                    self.butler.registry.queryDataIds(
                        [dimension], datasets=dt, collections=list(collections), where=where
                    )
                ),
            )
            values.update(data_id[dimension] for data_id in data_ids)
        return sorted(values, key=lambda v: (str(type(v)), v))

    def find_datasets(self, dataset_types: Sequence[str], collections: Sequence[str], where: str):
        refs = []
        for dataset_type in dataset_types:
            refs += self._call(
                f"finding {dataset_type} datasets",
                lambda dt=dataset_type: self.butler.query_datasets(
                    dt,
                    collections=list(collections),
                    where=where,
                    find_first=True,
                    explain=False,
                ),
            )
        return refs

    def count_datasets(self, collection: str) -> tuple[int, int]:
        """(distinct data IDs, datasets) in a TAGGED or RUN collection."""
        refs = list(self.butler.registry.queryDatasets(..., collections=collection))
        return len({ref.dataId for ref in refs}), len(refs)

    def run_products(self, run: str) -> list[ProductInfo]:
        """Each dataset type with datasets in the RUN collection ``run``, sorted by name."""

        def read() -> list[ProductInfo]:
            # The collection summary names the types at once; it may keep a type whose
            # datasets were all deleted since, hence the count check.
            summary = self.butler.collections.get_info(run, include_summary=True)
            names = sorted(summary.dataset_types or ())
            found = [self._product(run, name) for name in names]
            return [product for product in found if product.count]

        return self._call(f"counting the datasets in {run}", read)

    def _product(self, run: str, name: str) -> ProductInfo:
        dataset_type = self.butler.get_dataset_type(name)
        refs = self.butler.query_datasets(
            name, collections=run, find_first=False, limit=None, explain=False
        )
        return ProductInfo(
            name,
            dataset_type.storageClass_name,
            tuple(dataset_type.dimensions.required),
            len(refs),
            self._total_size(refs),
        )

    def _total_size(self, refs: list) -> int | None:
        """The files' total size as the datastore recorded it when they were written.

        Read from the datastore's records (one query per few thousand datasets), not from
        the files, which may be on an object store. None when a dataset has no record, or a
        record no size (-1: ingested without one), or the butler keeps no records here.
        """
        datastore = getattr(self.butler, "_datastore", None)  # a remote butler has none
        if datastore is None:
            return None
        try:
            exported = datastore.export_records(refs)
        except NotImplementedError:  # a datastore that cannot export its records
            return None
        sizes: dict[Any, list[int]] = {}
        for records in exported.values():  # per datastore: a chained one holds copies
            for dataset_id, tables in records.records.items():
                sizes.setdefault(
                    dataset_id,
                    [getattr(i, "file_size", -1) for infos in tables.values() for i in infos],
                )
        if len(sizes) < len(refs) or any(size < 0 for files in sizes.values() for size in files):
            return None
        return sum(sum(files) for files in sizes.values())

    # --- writing (each idempotent) --------------------------------------------

    def ensure_chain(self, name: str, children: Sequence[str]) -> bool:
        """Make ``name`` a CHAINED collection of exactly ``children``; True if it changed."""
        from lsst.daf.butler import CollectionType

        def run() -> bool:
            created = self.butler.collections.register(name, CollectionType.CHAINED)
            current = tuple(self.butler.collections.get_info(name).children)
            if not created and current == tuple(children):
                return False
            self.butler.collections.redefine_chain(name, list(children))
            return True

        return self._call(f"defining chain {name}", run)

    def ensure_tagged(self, name: str, refs: list) -> None:
        """Make ``name`` a TAGGED collection holding exactly ``refs``."""
        from lsst.daf.butler import CollectionType

        def run() -> None:
            registry = self.butler.registry
            registry.registerCollection(name, CollectionType.TAGGED)
            held = list(registry.queryDatasets(..., collections=name))
            wanted = {ref.id for ref in refs}
            extra = [ref for ref in held if ref.id not in wanted]
            if extra:
                registry.disassociate(name, extra)
            registry.associate(name, refs)

        self._call(f"filling TAGGED collection {name}", run)

    def remove_runs(self, names: Sequence[str]) -> None:
        """Delete RUN collections and their datasets (callers check references first)."""
        self._call(
            f"removing {len(names)} RUN collection(s)",
            lambda: self.butler.removeRuns(list(names)),
        )

    def _call(self, what: str, operation):
        try:
            return operation()
        except CampaignError:
            raise
        except Exception as error:
            raise ButlerError(f"butler {self.label!r}: {what} failed: {error}") from error

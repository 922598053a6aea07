"""What cm needs to know of a pipeline: its subsets and the dataset types each one reads."""

from functools import lru_cache

from campaigns.errors import CampaignError


class PipelineError(CampaignError):
    """A pipeline (or one of its subsets) that cannot be loaded."""


@lru_cache(maxsize=64)
def subsets(pipeline: str) -> frozenset[str]:
    return frozenset(_load(pipeline).subsets)


@lru_cache(maxsize=256)
def input_dataset_types(pipeline: str, subset: str | None = None) -> tuple[str, ...]:
    """The overall inputs of the pipeline, or of one subset: what its first tasks read."""
    uri = f"{pipeline}#{subset}" if subset else pipeline
    try:
        graph = _load(uri).to_graph()
        return tuple(sorted(name for name, _ in graph.iter_overall_inputs()))
    except CampaignError:
        raise
    except Exception as error:
        raise PipelineError(f"cannot build the pipeline graph of {uri}: {error}") from error


def _load(uri: str):
    from lsst.pipe.base import Pipeline

    try:
        return Pipeline.from_uri(uri)
    except Exception as error:  # missing file, bad YAML, unknown subset, unimportable task
        raise PipelineError(f"cannot load pipeline {uri}: {error}") from error

"""Tiny PipelineTasks with no science in them, for the demo pipeline (examples/pipelines/demo.yaml).

- ``ProcessTask`` (per exposure and detector): one array in, ``input * scale + offset`` out.
  The demo pipeline uses it twice, renaming its dataset types through the config
  (``connections.input`` / ``connections.output``): ``demo_raw -> demo_postisr -> demo_calexp``.
- ``SummaryTask`` (per exposure): every detector's array in, the mean per detector out.

Imported by ``pipetask`` subprocesses, so this module must not import Django.
"""

import logging

import lsst.pex.config as pex_config
import numpy as np
from lsst.pipe.base import (
    InputQuantizedConnection,
    OutputQuantizedConnection,
    PipelineTask,
    PipelineTaskConfig,
    PipelineTaskConnections,
    QuantumContext,
    Struct,
)
from lsst.pipe.base import connectionTypes as ct

_LOG = logging.getLogger(__name__)

PER_DETECTOR = ("instrument", "exposure", "detector")
PER_EXPOSURE = ("instrument", "exposure")


class ProcessConnections(PipelineTaskConnections, dimensions=PER_DETECTOR):
    """One array in and one array out, per exposure and detector."""

    input = ct.Input(
        name="demo_raw",
        doc="The array to process.",
        storageClass="NumpyArray",
        dimensions=PER_DETECTOR,
    )
    output = ct.Output(
        name="demo_postisr",
        doc="The processed array: input * scale + offset.",
        storageClass="NumpyArray",
        dimensions=PER_DETECTOR,
    )


class ProcessConfig(PipelineTaskConfig, pipelineConnections=ProcessConnections):
    """How to process: a linear map, so expected outputs are easy to compute in tests."""

    scale = pex_config.Field[float](doc="Factor applied to every value.", default=1.0)
    offset = pex_config.Field[float](doc="Added to every value after scaling.", default=0.0)


class ProcessTask(PipelineTask):
    """Write ``input * scale + offset`` for one exposure and detector."""

    ConfigClass = ProcessConfig
    _DefaultName = "demoProcess"
    config: ProcessConfig

    def run(self, input: np.ndarray) -> Struct:
        output = input * self.config.scale + self.config.offset
        _LOG.info("processed %d values, mean %.3f -> %.3f", input.size, input.mean(), output.mean())
        return Struct(output=output)


class SummaryConnections(PipelineTaskConnections, dimensions=PER_EXPOSURE):
    """Every detector's array of one exposure in, one summary of the exposure out."""

    calexps = ct.Input(
        name="demo_calexp",
        doc="The processed arrays of every detector of the exposure.",
        storageClass="NumpyArray",
        dimensions=PER_DETECTOR,
        multiple=True,
    )
    summary = ct.Output(
        name="demo_exposure_summary",
        doc="The exposure's detector count and mean value per detector.",
        storageClass="StructuredDataDict",
        dimensions=PER_EXPOSURE,
    )


class SummaryConfig(PipelineTaskConfig, pipelineConnections=SummaryConnections):
    """No options: the summary is the mean of each detector's array."""


class SummaryTask(PipelineTask):
    """Summarise one exposure: ``{"exposure", "detectors", "mean": {detector: mean}}``."""

    ConfigClass = SummaryConfig
    _DefaultName = "demoSummary"

    def runQuantum(
        self,
        butlerQC: QuantumContext,
        inputRefs: InputQuantizedConnection,
        outputRefs: OutputQuantizedConnection,
    ) -> None:
        # run() needs the detector of each array, which only the data IDs carry.
        arrays = butlerQC.get(inputRefs.calexps)
        detectors = [int(ref.dataId["detector"]) for ref in inputRefs.calexps]
        exposure = int(outputRefs.summary.dataId["exposure"])
        butlerQC.put(self.run(arrays, detectors=detectors, exposure=exposure), outputRefs)

    def run(self, calexps: list[np.ndarray], *, detectors: list[int], exposure: int) -> Struct:
        # Plain Python numbers: the summary is written as YAML.
        pairs = sorted(zip(detectors, calexps, strict=True), key=lambda pair: pair[0])
        means = {detector: float(array.mean()) for detector, array in pairs}
        summary = {"exposure": exposure, "detectors": len(means), "mean": means}
        return Struct(summary=summary)

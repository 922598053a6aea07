"""A WMS whose answers a test scripts: it stands in for the external system, not for cm."""

from pathlib import Path

import pytest

from campaigns import wms
from campaigns.wms.base import RunReport, Submission, WmsUnavailable


class ScriptedWms:
    name = "scripted"
    submitted: list[Path] = []
    answers: dict[str, object] = {}  # wms_id -> RunReport, or an exception to raise

    def submit(self, config: Path) -> Submission:
        ScriptedWms.submitted.append(config)
        return Submission(wms_id=f"run-{len(ScriptedWms.submitted)}", submit_dir=str(config.parent))

    def report(self, submission: Submission) -> RunReport:
        answer = ScriptedWms.answers.get(submission.wms_id)
        if answer is None:
            raise WmsUnavailable(f"nothing scripted for {submission.wms_id}")
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def cancel(self, submission: Submission) -> None:
        pass


@pytest.fixture
def scripted_wms(monkeypatch):
    """Steps whose ``wms`` is "scripted" submit to a ScriptedWms."""
    ScriptedWms.submitted, ScriptedWms.answers = [], {}
    monkeypatch.setitem(wms._IMPLEMENTATIONS, "scripted", "tests.scripted_wms:ScriptedWms")
    return ScriptedWms

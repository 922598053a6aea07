import pytest

from tests.builders import make_job


@pytest.mark.django_db
def test_builders_make_a_whole_chain():
    job = make_job()
    assert job.workflow.group.step.campaign.production.campaign_type.name == "DataProc"
    assert job.workflow.path.endswith("/attempt_1")

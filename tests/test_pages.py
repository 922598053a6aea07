"""The shifter pages that exist so far: the processing-status overview."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.services.status import transition
from campaigns.states import Status
from tests.builders import make_campaign, make_group, make_step

pytestmark = pytest.mark.django_db


def campaign_with_groups(groups: int):
    campaign = make_campaign()
    step = make_step(campaign)
    for _ in range(groups):
        make_group(step)
    return campaign


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_overview_lists_campaigns_with_groups_counted_by_status(client):
    campaign = campaign_with_groups(3)
    transition(campaign.steps.get().groups.first(), Status.READY, reason="test")
    page = client.get("/").content.decode()
    assert campaign.name in page and campaign.production.name in page
    assert "2 waiting" in page and "1 ready" in page


def test_overview_query_count_does_not_grow_with_the_data(client):
    campaign_with_groups(1)
    small = queries_for(client, "/")
    for _ in range(9):
        campaign_with_groups(5)
    assert queries_for(client, "/") == small


def test_overview_says_how_to_start_when_empty(client):
    assert "cm create production" in client.get("/").content.decode()

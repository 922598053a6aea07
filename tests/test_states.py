"""The status vocabulary, the transition table, the one function that applies it, and its documents.

The oracle here (``LEGAL``) is computed from ``TRANSITIONS`` without going
through ``allowed_moves`` or ``Actor.allows``, so the tests check the service
against the table rather than against itself.
"""

import importlib.util
from collections import deque
from datetime import timedelta
from io import StringIO
from itertools import product
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.staticfiles import finders
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns.cli import SUBCOMMAND_MODULES
from campaigns.errors import ConcurrentChangeError, TransitionError
from campaigns.models import Group, StatusChange
from campaigns.services.actions import invalidate, pause, resume, validate
from campaigns.services.status import transition
from campaigns.statedoc import render_markdown
from campaigns.states import STATE_INFO, TRANSITIONS, Actor, Status
from tests.builders import make_group, make_job, make_workflow

ALL = list(Status)
# (from, to, manual?) for every move the table allows.
LEGAL = {
    (source, move.target, manual)
    for source, moves in TRANSITIONS.items()
    for move in moves
    for manual in (False, True)
    if move.actor == "both" or (move.actor == "manual") == manual
}
BADGE_COLOURS = {"primary", "secondary", "success", "danger", "warning", "info", "light", "dark"}

property_test = hypothesis_settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def legal(source: str, target: str, manual: bool) -> bool:
    return (Status(source), Status(target), manual) in LEGAL


def targets_from(source: str, manual: bool) -> list[Status]:
    return [t for s, t, m in sorted(LEGAL) if s == source and m == manual]


def _shortest_paths() -> dict[Status, tuple[Status, bool] | None]:
    """Breadth-first from waiting: each reachable status and the move that first reached it."""
    came_from: dict[Status, tuple[Status, bool] | None] = {Status.WAITING: None}
    queue = deque([Status.WAITING])
    while queue:
        here = queue.popleft()
        for source, target, manual in sorted(LEGAL, key=lambda move: (move[2], move)):
            if source == here and target not in came_from:
                came_from[target] = (here, manual)
                queue.append(target)
    return came_from


def path_to(goal: Status) -> list[tuple[Status, bool]]:
    """The shortest legal walk from waiting to ``goal``, preferring system moves."""
    came_from = _shortest_paths()
    steps, at = [], goal
    while came_from[at] is not None:
        previous, manual = came_from[at]
        steps.append((at, manual))
        at = previous
    return steps[::-1]


def put_in(element, status: Status, user):
    """Drive a fresh element to ``status`` through legal moves, as cm and a person would."""
    for target, manual in path_to(status):
        transition(element, target, user=user if manual else None, reason=f"test: to {target}")
    return element


def history(element) -> list[StatusChange]:
    content_type = ContentType.objects.get_for_model(type(element))
    return list(
        StatusChange.objects.filter(content_type=content_type, object_id=element.pk).order_by(
            "at", "id"
        )
    )


def history_count(element) -> int:
    content_type = ContentType.objects.get_for_model(type(element))
    return StatusChange.objects.filter(content_type=content_type, object_id=element.pk).count()


def snapshot(model, elements) -> dict[int, tuple]:
    """Each element's status fields as stored, by pk."""
    rows = model.objects.filter(pk__in=[e.pk for e in elements])
    fields = ("status", "status_since", "status_reason", "started_at", "finished_at")
    return {pk: tuple(rest) for pk, *rest in rows.values_list("pk", *fields)}


# --- The table itself (no database) ------------------------------------------------


def test_every_status_has_a_meaning_and_a_row_in_the_table():
    assert set(TRANSITIONS) == set(Status) == set(STATE_INFO)
    assert all(info.meaning and info.colour in BADGE_COLOURS for info in STATE_INFO.values())


def test_every_target_is_a_status_and_appears_once_per_source():
    for source, moves in TRANSITIONS.items():
        targets = [move.target for move in moves]
        assert all(isinstance(target, Status) for target in targets)
        assert len(targets) == len(set(targets)), f"{source} lists a target twice"
        assert all(isinstance(move.actor, Actor) and move.why for move in moves)


def test_no_status_moves_to_itself():
    assert all(source != target for source, target, _ in LEGAL)


def test_every_status_is_reachable_from_waiting():
    assert set(_shortest_paths()) == set(Status)


def test_superseded_has_no_exits():
    assert TRANSITIONS[Status.SUPERSEDED] == ()


def test_failed_never_moves_to_accepted():
    # The issue: a pipetaskInit failure is failed, never accepted as is.
    assert not any(legal(Status.FAILED, Status.ACCEPTED, manual) for manual in (False, True))


def test_only_a_person_moves_an_element_out_of_a_final_status():
    for status, info in STATE_INFO.items():
        if info.final:
            assert all(move.actor == Actor.MANUAL for move in TRANSITIONS[status]), status


# --- Random walks through the one transition function ------------------------------


@pytest.mark.django_db
@property_test
@given(data=st.data())
def test_random_walk_obeys_the_table_and_leaves_a_chain_of_history(data, operator):
    group = make_group()
    moves_made = []
    for step in range(data.draw(st.integers(min_value=1, max_value=30), label="length")):
        manual = data.draw(st.booleans(), label="manual")
        # Most draws follow a legal move so walks get deep; the rest are any status at all.
        choices = targets_from(group.status, manual)
        pick_legal = choices and data.draw(st.integers(0, 3), label="legal unless 0") > 0
        target = data.draw(st.sampled_from(choices if pick_legal else ALL), label="target")
        user = operator if manual else None
        before, count = snapshot(Group, [group]), history_count(group)
        if legal(group.status, target, manual):
            transition(group, target, user=user, reason=f"walk step {step}")
            moves_made.append((target, manual))
            assert Group.objects.get(pk=group.pk).status == target == group.status
        else:
            with pytest.raises(TransitionError) as refused:
                transition(group, target, user=user, reason=f"walk step {step}")
            assert f"from {group.status} to {target}" in str(refused.value)
            assert snapshot(Group, [group]) == before
            assert history_count(group) == count

    rows = history(group)
    assert len(rows) == 1 + len(moves_made)
    assert (rows[0].from_status, rows[0].to_status, rows[0].user_id) == ("", Status.WAITING, None)
    for previous, row, (target, manual) in zip(rows[:-1], rows[1:], moves_made, strict=True):
        assert row.from_status == previous.to_status
        assert row.to_status == target
        assert row.user_id == (operator.pk if manual else None)
        assert row.at >= previous.at
    assert rows[-1].to_status == Group.objects.get(pk=group.pk).status


@pytest.mark.django_db
@pytest.mark.parametrize("source", ALL)
def test_from_each_status_exactly_the_moves_in_the_table_are_allowed(source, operator):
    # Exhaustive where the walks are random: every (target, who) from this status, each
    # tried in a savepoint that is rolled back so the next try starts from ``source`` again.
    group = put_in(make_group(), source, operator)
    count = history_count(group)
    for target, manual in product(ALL, (False, True)):
        with transaction.atomic():
            try:
                transition(group, target, user=operator if manual else None, reason="try it")
            except TransitionError:
                moved = False
                assert Group.objects.get(pk=group.pk).status == source
                assert history_count(group) == count
            else:
                moved = True
                assert Group.objects.get(pk=group.pk).status == target
                assert history(group)[-1].user_id == (operator.pk if manual else None)
            transaction.set_rollback(True)
        group.refresh_from_db()
        assert moved == legal(source, target, manual), (source, target, manual)


# --- Batches: all or nothing, constant queries --------------------------------------


@pytest.mark.django_db
@property_test
@given(
    statuses=st.lists(st.sampled_from(ALL), min_size=1, max_size=5),
    target=st.sampled_from(ALL),
    manual=st.booleans(),
)
@example(
    statuses=[Status.SUCCEEDED, Status.REVIEWABLE, Status.FAILED],
    target=Status.ACCEPTED,
    manual=True,
)
def test_a_batch_moves_entirely_or_not_at_all(statuses, target, manual, operator):
    groups = [put_in(make_group(), status, operator) for status in statuses]
    user = operator if manual else None
    before = snapshot(Group, groups)
    counts = [history_count(g) for g in groups]
    illegal = [g for g in groups if not legal(g.status, target, manual)]
    if illegal:
        with pytest.raises(TransitionError) as refused:
            transition(groups, target, user=user, reason="batch")
        assert [path for path, *_ in refused.value.refused] == [f"group {g.path}" for g in illegal]
        assert snapshot(Group, groups) == before
        assert [history_count(g) for g in groups] == counts
    else:
        assert transition(groups, target, user=user, reason="batch") == len(groups)
        assert {row[0] for row in snapshot(Group, groups).values()} == {target}
        assert [history_count(g) for g in groups] == [n + 1 for n in counts]
        for group, status in zip(groups, statuses, strict=True):
            last = history(group)[-1]
            assert (last.from_status, last.to_status) == (status, target)
            assert last.user_id == (operator.pk if manual else None)


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_whatever_its_size(operator):
    def queries_to_move(size: int) -> int:
        groups = [put_in(make_group(), Status.SUCCEEDED, operator) for _ in range(size // 2)]
        groups += [put_in(make_group(), Status.REVIEWABLE, operator) for _ in range(size // 2)]
        with CaptureQueriesContext(connection) as captured:
            transition(groups, Status.ACCEPTED, user=operator, reason="validated in bulk")
        return len(captured)

    assert queries_to_move(2) == queries_to_move(20)


# --- Another process got there first -------------------------------------------------


@pytest.mark.django_db
def test_a_stale_element_is_refused_and_writes_no_history():
    group = make_group()
    Group.objects.filter(pk=group.pk).update(status=Status.READY)  # another worker moved it
    with pytest.raises(ConcurrentChangeError):
        transition(group, Status.READY, reason="prerequisites accepted")
    assert history_count(group) == 1
    assert group.status == Status.WAITING  # the stale copy is left as it was read
    assert Group.objects.get(pk=group.pk).status == Status.READY


@pytest.mark.django_db
def test_one_stale_member_rolls_back_the_whole_batch(operator):
    fresh, stale = make_group(), put_in(make_group(), Status.READY, operator)
    Group.objects.filter(pk=stale.pk).update(status=Status.LAUNCH_REQUESTED)
    before = snapshot(Group, [fresh, stale])
    # fresh (waiting) is updated first, then stale's update finds nothing: both roll back.
    with pytest.raises(ConcurrentChangeError):
        transition([fresh, stale], Status.PAUSED, user=operator, reason="pause all")
    assert snapshot(Group, [fresh, stale]) == before
    assert history_count(fresh) == 1


# --- The same function on every level ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("make", [make_workflow, make_job], ids=["workflow", "job"])
def test_running_and_finishing_stamp_started_and_finished(make, operator):
    element = put_in(make(), Status.LAUNCH_REQUESTED, operator)
    t0 = timezone.now() + timedelta(days=1)  # after the history rows put_in wrote
    transition(element, Status.RUNNING, reason="submitted", now=t0)
    element.refresh_from_db()
    assert (element.started_at, element.finished_at) == (t0, None)

    transition(element, Status.SUCCEEDED, reason="done", now=t0 + timedelta(hours=1))
    element.refresh_from_db()
    assert (element.started_at, element.finished_at) == (t0, t0 + timedelta(hours=1))

    # Running again (a retried child) keeps the first start and clears the finish.
    transition(element, Status.RUNNING, reason="a child was retried", now=t0 + timedelta(hours=2))
    element.refresh_from_db()
    assert (element.started_at, element.finished_at) == (t0, None)
    assert [row.to_status for row in history(element)][-3:] == ["running", "succeeded", "running"]


@pytest.mark.django_db
def test_a_job_cannot_be_accepted_after_failing(operator):
    job = put_in(make_job(), Status.FAILED, operator)
    with pytest.raises(TransitionError, match="cannot go from failed to accepted"):
        transition(job, Status.ACCEPTED, user=operator, reason="looks fine")


# --- Pause and resume -------------------------------------------------------------------

PAUSABLE = sorted(source for source, target, _ in LEGAL if target == Status.PAUSED)
RESUMES_TO = {Status.PREPARED: Status.READY, Status.BLOCKED: Status.RUNNING}


@pytest.mark.django_db
@pytest.mark.parametrize("paused_from", PAUSABLE)
def test_resume_returns_a_group_to_where_it_was_paused(paused_from, operator):
    group = put_in(make_group(), paused_from, operator)
    pause(group, user=operator, reason="hold")
    resume(group, user=operator, reason="go on")
    expected = RESUMES_TO.get(paused_from, paused_from)
    assert Group.objects.get(pk=group.pk).status == expected
    assert legal(Status.PAUSED, expected, manual=True)


@pytest.mark.django_db
def test_resume_a_workflow_paused_while_running(operator):
    workflow = put_in(make_workflow(), Status.RUNNING, operator)
    pause(workflow, user=operator, reason="suspend in the WMS")
    assert resume([workflow], user=operator, reason="release") == 1
    workflow.refresh_from_db()
    assert workflow.status == Status.RUNNING
    assert history(workflow)[-1].user_id == operator.pk


@pytest.mark.django_db
def test_resume_a_mixed_batch_sends_each_back_to_its_own_status(operator):
    ready, running = (put_in(make_group(), s, operator) for s in (Status.READY, Status.RUNNING))
    pause([ready, running], user=operator, reason="hold everything")
    resume([ready, running], user=operator, reason="go on")
    assert snapshot(Group, [ready, running])[ready.pk][0] == Status.READY
    assert snapshot(Group, [ready, running])[running.pk][0] == Status.RUNNING


# --- The documents: cm states, docs/states.md, /states/ ----------------------------------


@pytest.fixture
def cm(monkeypatch):
    """``call_command("cm", ...)`` with the subcommands that exist so far."""
    from campaigns.management.commands import cm as command

    present = [name for name in SUBCOMMAND_MODULES if importlib.util.find_spec(name)]
    monkeypatch.setattr(command, "SUBCOMMAND_MODULES", present)

    def run(*args):
        stdout, stderr = StringIO(), StringIO()
        call_command("cm", *args, stdout=stdout, stderr=stderr)
        return stdout.getvalue(), stderr.getvalue()

    return run


def test_cm_states_prints_every_status_and_move(cm):
    out, _ = cm("states")
    assert out == render_markdown()
    for status in Status:
        assert f"`{status.value}`" in out
    assert "| `failed` | `launch_requested` | both |" in out


def test_docs_states_md_is_current(cm):
    doc = django_settings.BASE_DIR / "docs" / "states.md"
    assert doc.read_text(encoding="utf-8") == render_markdown(), (
        "docs/states.md is stale: python manage.py cm states --write docs/states.md"
    )
    out, _ = cm("states", "--check", str(doc))
    assert "up to date" in out


def test_cm_states_check_fails_on_a_stale_file_and_write_fixes_it(cm, tmp_path):
    doc = tmp_path / "states.md"
    doc.write_text("# old table\n", encoding="utf-8")
    with pytest.raises(CommandError) as failed:
        cm("states", "--check", str(doc))
    assert failed.value.returncode == 1
    cm("states", "--write", str(doc))
    assert doc.read_text(encoding="utf-8") == render_markdown()
    cm("states", "--check", str(doc))


@pytest.mark.django_db
def test_states_page_shows_every_status_without_a_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(reverse("monitoring:states"))
    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == ["monitoring/states.html", "base.html"]
    page = response.content.decode()
    for status, info in STATE_INFO.items():
        assert f'id="{status.value}"' in page
        assert f'<span class="badge text-bg-{info.colour}">{status.label}</span>' in page
    manual_only = sum(
        move.actor == Actor.MANUAL for moves in TRANSITIONS.values() for move in moves
    )
    assert page.count('class="cm-who cm-who-manual"') == manual_only + 1  # the moves and the legend
    for url in (reverse("monitoring:overview"), "/admin/", "monitoring/cm.css"):
        assert url in page


def test_the_stylesheet_has_a_badge_for_every_colour():
    path = finders.find("monitoring/cm.css")
    assert path, "monitoring/static/monitoring/cm.css is missing"
    css = Path(path).read_text(encoding="utf-8")
    assert all(f".badge.text-bg-{colour} " in css for colour in BADGE_COLOURS)


@pytest.mark.django_db
@pytest.mark.parametrize("before", [Status.SUCCEEDED, Status.REVIEWABLE])
def test_a_rejected_element_that_had_data_can_be_revalidated(before, operator):
    group = put_in(make_group(), before, operator)
    invalidate(group, user=operator, reason="looked wrong")
    validate(group, user=operator, reason="it was fine after all")
    assert Group.objects.get(pk=group.pk).status == Status.ACCEPTED


@pytest.mark.django_db
@pytest.mark.parametrize("before", [Status.FAILED, Status.WAITING])
def test_a_rejected_element_that_failed_or_never_ran_is_never_accepted(before, operator):
    group = put_in(make_group(), before, operator)
    invalidate(group, user=operator, reason="bad")
    with pytest.raises(TransitionError, match="cannot go from rejected to accepted"):
        validate(group, user=operator, reason="try to sneak it in")
    assert Group.objects.get(pk=group.pk).status == Status.REJECTED


@pytest.mark.django_db
def test_the_same_element_twice_in_a_batch_is_one_change():
    group = make_group()
    assert transition([group, group], Status.READY, reason="dup") == 1
    assert history_count(group) == 2  # creation + one move


@pytest.mark.django_db
def test_a_reset_clears_the_earlier_run_times(operator):
    group = put_in(make_group(), Status.FAILED, operator)
    invalidate(group, user=operator, reason="bad")
    transition(group, Status.READY, user=operator, reason="reset")
    group.refresh_from_db()
    assert group.started_at is None and group.finished_at is None

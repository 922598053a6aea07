"""cm create: the example production, idempotency, conflicts, every kind, atomicity."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from campaigns import archive
from campaigns.errors import CampaignError
from campaigns.models import (
    ArchivedConfig,
    Campaign,
    Group,
    Production,
    StatusChange,
    Step,
    Workflow,
)
from campaigns.services.create import create_from_file
from campaigns.specs.problems import SpecError
from campaigns.states import Status

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "production.yaml"
MORE = ROOT / "examples" / "more"

pytestmark = pytest.mark.django_db


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_production_creates_the_whole_tree():
    result = create_from_file("production", EXAMPLE)

    production = Production.objects.get(name="demo-dp")
    assert production.campaign_type.name == "DataProc"
    assert [c.name for c in production.campaigns.order_by("name")] == ["main", "test"]
    main = Campaign.objects.get(production=production, name="main")
    assert [s.name for s in main.steps.order_by("order")] == ["step1", "step2", "step3"]
    groups = {s.name: s.groups.count() for s in main.steps.all()}
    assert groups == {"step1": 4, "step2": 2, "step3": 3}  # split from the butler's data IDs
    test = Campaign.objects.get(production=production, name="test")
    assert test.steps.get(name="step3").groups.get().name == "all"
    assert len(result.created["group"]) == 14
    assert result.config.kind == "production"


def test_steps_inherit_one_bps_template_from_their_campaign():
    create_from_file("production", EXAMPLE)
    test = Campaign.objects.get(name="test")
    step1, step2 = test.steps.get(name="step1"), test.steps.get(name="step2")
    assert step1.bps == {"requestMemory": 2048, "numberOfRetries": 1}
    assert step2.bps == {"requestMemory": 4096, "numberOfRetries": 1}
    # Groups differ only by their data query and collection names.
    queries = list(step1.groups.order_by("name").values_list("data_query", flat=True))
    assert queries == ["detector IN (0, 1)", "detector IN (2, 3)"]


def test_extends_inherits_and_overrides_campaign_fields():
    create_from_file("production", EXAMPLE)
    test, main = Campaign.objects.get(name="test"), Campaign.objects.get(name="main")
    assert main.pipeline == test.pipeline and main.butler_repo == test.butler_repo
    assert main.data_query == "instrument = 'DemoCam'"
    assert main.output_root == "demo-dp/main"
    assert main.steps.get(name="step1").split == {
        "method": "dimension",
        "dimension": "detector",
        "max_group_size": 4,
        "values": None,
    }
    assert main.steps.get(name="step1").groups.get(name="g003").data_query == (
        "detector IN (12, 13, 14, 15)"
    )


def test_collection_names_derive_from_the_hierarchy():
    create_from_file("production", EXAMPLE)
    group = Group.objects.get(step__campaign__name="test", step__name="step1", name="g000")
    assert group.input_collection == "demo-dp/test/step1/g000/input"
    assert group.output_collection == "demo-dp/test/step1/g000"
    assert group.step.output_collection == "demo-dp/test/step1"
    assert group.step.campaign.output_collection == "demo-dp/test"


def test_steps_without_prerequisites_start_ready_the_rest_waiting():
    create_from_file("production", EXAMPLE)
    statuses = dict(Step.objects.filter(campaign__name="test").values_list("name", "status"))
    assert statuses == {"step1": "ready", "step2": "waiting", "step3": "waiting"}
    assert set(Group.objects.filter(step__name="step1").values_list("status", flat=True)) == {
        "ready"
    }
    assert list(Step.objects.get(campaign__name="test", name="step3").prerequisites.all()) == [
        Step.objects.get(campaign__name="test", name="step2")
    ]


def test_every_created_element_has_a_creation_history_row_and_links_its_archived_spec():
    result = create_from_file("production", EXAMPLE)
    groups = Group.objects.all()
    assert {g.spec_config_id for g in groups} == {result.config.pk}
    assert StatusChange.objects.filter(from_status="").count() == 1 + 2 + 6 + 14
    assert set(StatusChange.objects.values_list("reason", flat=True)) == {f"created from {EXAMPLE}"}


def test_the_spec_is_archived_content_addressed_and_read_only():
    result = create_from_file("production", EXAMPLE)
    path = archive.path_of(result.config)
    assert path.read_bytes() == EXAMPLE.read_bytes()
    assert result.config.sha256 == archive.sha256_of(EXAMPLE.read_bytes())
    assert path.name == f"{result.config.sha256}.yaml"
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_an_identical_spec_is_a_no_op():
    create_from_file("production", EXAMPLE)
    counts = (Production.objects.count(), Group.objects.count(), StatusChange.objects.count())
    result = create_from_file("production", EXAMPLE)
    assert result.nothing_to_do
    assert (
        Production.objects.count(),
        Group.objects.count(),
        StatusChange.objects.count(),
    ) == counts
    assert ArchivedConfig.objects.count() == 1


def test_a_conflicting_spec_is_refused_naming_each_changed_field(tmp_path):
    create_from_file("production", EXAMPLE)
    changed = EXAMPLE.read_text().replace("requestMemory: 4096", "requestMemory: 8192")
    path = write(tmp_path, "changed.yaml", changed)
    with pytest.raises(SpecError) as caught:
        create_from_file("production", path)
    problems = caught.value.problems
    assert {p.field for p in problems} == {"campaigns[0].steps[1].bps", "campaigns[1].steps[1].bps"}
    bps_lines = [i for i, text in enumerate(changed.splitlines(), 1) if text.strip() == "bps:"]
    assert sorted(p.line for p in problems) == bps_lines[1:]
    assert "conflicts with the existing step demo-dp/test/step2" in problems[0].message
    assert Step.objects.get(campaign__name="test", name="step2").bps["requestMemory"] == 4096


def test_a_production_file_can_add_a_campaign_to_an_existing_production(tmp_path):
    create_from_file("production", EXAMPLE)
    text = EXAMPLE.read_text() + (
        "\n  - name: extra\n    extends: test\n    output_root: demo-dp/extra\n"
    )
    result = create_from_file("production", write(tmp_path, "more.yaml", text))
    assert result.created["campaign"] == ["demo-dp/extra"]
    assert "production demo-dp" in result.skipped


@pytest.mark.parametrize(
    ("kind", "name", "created"),
    [
        ("campaign", "campaign.yaml", {"campaign": ["demo-dp/rerun"]}),
        ("step", "step.yaml", {"step": ["demo-dp/main/step4"]}),
        ("group", "group.yaml", {"group": ["demo-dp/test/step1/extra"]}),
        ("workflow", "workflow.yaml", {"workflow": ["demo-dp/test/step1/g000/attempt_1"]}),
    ],
)
def test_each_kind_can_be_created_on_its_own_and_twice_is_a_no_op(kind, name, created):
    create_from_file("production", EXAMPLE)
    result = create_from_file(kind, MORE / name)
    for level, paths in created.items():
        assert result.created[level] == paths
    assert create_from_file(kind, MORE / name).nothing_to_do


def test_a_standalone_step_inherits_its_campaigns_template_and_prerequisites():
    create_from_file("production", EXAMPLE)
    create_from_file("step", MORE / "step.yaml")
    step4 = Step.objects.get(campaign__name="main", name="step4")
    assert step4.order == 4 and step4.status == Status.WAITING
    assert step4.bps == {"requestMemory": 2048, "numberOfRetries": 1}
    assert [p.name for p in step4.prerequisites.all()] == ["step3"]
    assert sorted(step4.groups.values_list("name", flat=True)) == ["early", "late"]


def test_workflow_attempts_follow_on_and_resolve_their_run_collection(tmp_path):
    create_from_file("production", EXAMPLE)
    create_from_file("workflow", MORE / "workflow.yaml")
    first = Workflow.objects.get()
    assert first.output_run == "demo-dp/test/step1/g000/attempt_1"
    assert first.status == Status.READY
    second = write(tmp_path, "w2.yaml", "group: demo-dp/test/step1/g000\n")
    with pytest.raises(SpecError, match="already has attempt 1 in status ready"):
        create_from_file("workflow", second)
    Workflow.objects.filter(pk=first.pk).update(status=Status.FAILED)
    result = create_from_file("workflow", second)
    assert result.created["workflow"] == ["demo-dp/test/step1/g000/attempt_2"]
    assert create_from_file("workflow", second).nothing_to_do


def test_a_failure_while_writing_rows_leaves_no_rows_and_no_archive_file(monkeypatch, settings):
    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("campaigns.services.create.record_creation", explode)
    with pytest.raises(RuntimeError):
        create_from_file("production", EXAMPLE)
    assert Production.objects.count() == 0 and ArchivedConfig.objects.count() == 0
    archived = [p for p in Path(settings.CM_YAML_ARCHIVE_DIR).rglob("*") if p.is_file()]
    assert archived == []


def test_unknown_kind_is_refused():
    with pytest.raises(CampaignError, match="unknown kind"):
        create_from_file("task", EXAMPLE)


def test_cli_reports_what_it_created(capsys):
    call_command("cm", "create", "production", str(EXAMPLE))
    out = capsys.readouterr().out
    assert "created 14 group(s)" in out and "archived as sha256:" in out
    call_command("cm", "create", "production", str(EXAMPLE))
    assert "nothing to do" in capsys.readouterr().out


def test_the_real_command_line_exits_non_zero_with_located_errors(tmp_path, settings):
    bad = write(tmp_path, "bad.yaml", "name: x\ncampaign_type: DataProc\nnonsense: 1\n")
    env = {
        **os.environ,
        "CM_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
    }
    run = [sys.executable, "manage.py"]
    subprocess.run([*run, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    done = subprocess.run(
        [*run, "cm", "create", "production", str(bad)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert f"{bad}:3: nonsense: unknown field 'nonsense'" in done.stderr

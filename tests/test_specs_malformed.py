"""Malformed specs: each is refused with every problem located, and nothing is written.

The corpus is tests/specs/malformed/*.yaml, one problem per file (a few with several);
EXPECTED.yaml there says what cm must report for each. Binary and huge inputs are made
here instead of being committed.
"""

import io
import re
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command

from campaigns.services.create import KINDS, create_from_file
from campaigns.specs.problems import SpecError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "production.yaml"
CORPUS = Path(__file__).resolve().parent / "specs" / "malformed"
EXPECTED = yaml.safe_load((CORPUS / "EXPECTED.yaml").read_text())

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def demo_production():
    """The example production exists, so references and clashes have something to hit."""
    create_from_file("production", EXAMPLE)
    assert archived_files(), "the example should have been archived"


def row_counts() -> dict[str, int]:
    models = apps.get_app_config("campaigns").get_models(include_auto_created=True)
    return {model._meta.label: model._default_manager.count() for model in models}


def archived_files() -> dict[str, bytes]:
    root = Path(settings.CM_YAML_ARCHIVE_DIR)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def refuse(kind: str, path: Path) -> SpecError:
    """Run ``cm create`` on ``path``; it must fail and leave rows and archive as they were."""
    rows, files = row_counts(), archived_files()
    with pytest.raises(SpecError) as caught:
        create_from_file(kind, path)
    assert row_counts() == rows
    assert archived_files() == files
    assert all(problem.file == str(path) for problem in caught.value.problems)
    return caught.value


def assert_reported(error: SpecError, expected: list[dict]) -> None:
    for wanted in expected:
        found = [
            p
            for p in error.problems
            if (p.line, p.field) == (wanted["line"], wanted["field"])
            and wanted["message"] in p.message
        ]
        assert found, f"expected {wanted} among the problems reported:\n{error}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_spec_is_refused_with_located_problems(name):
    expected = EXPECTED[name]
    error = refuse(expected["kind"], CORPUS / name)
    assert_reported(error, expected["problems"])


def test_corpus_is_large_and_every_file_has_an_expectation():
    files = {p.name for p in CORPUS.iterdir()} - {"EXPECTED.yaml"}
    assert len(files) >= 30
    assert files == set(EXPECTED), "each spec in the corpus needs an entry in EXPECTED.yaml"
    for name, expected in EXPECTED.items():
        assert expected["kind"] in KINDS and name.startswith(f"{expected['kind']}-"), name
        assert expected["problems"], name


def test_cli_prints_file_line_field_and_message(tmp_path):
    path = CORPUS / "production-several-problems.yaml"
    rows, files = row_counts(), archived_files()
    stderr = io.StringIO()
    with pytest.raises(CommandError):
        call_command("cm", "create", "production", str(path), stdout=io.StringIO(), stderr=stderr)
    printed = stderr.getvalue()
    assert "nothing was written" in printed
    problem_lines = [line.strip() for line in printed.splitlines()[1:] if line.strip()]
    assert len(problem_lines) >= 5
    for line in problem_lines:
        assert re.fullmatch(rf"{re.escape(str(path))}:\d+: \S+: .+", line), line
    for wanted in EXPECTED[path.name]["problems"]:
        start = f"{path}:{wanted['line']}: {wanted['field']}: "
        assert any(ln.startswith(start) and wanted["message"] in ln for ln in problem_lines)
    assert (row_counts(), archived_files()) == (rows, files)


# --- inputs made here: bad bytes, huge files, an alias bomb ------------------------------

BAD_BYTES = [
    pytest.param(
        "group",
        b"# caf\xc3\xa9 is fine in UTF-8\nstep: demo-dp/test/step1\nname: caf\xe9\n",
        3,
        "not valid UTF-8: byte 0xe9",
        id="latin-1-byte",
    ),
    pytest.param(
        "workflow",
        "group: demo-dp/test/step1/g000\n".encode("utf-16"),
        1,
        "not valid UTF-8: byte 0xff at offset 0",
        id="utf-16",
    ),
    pytest.param(
        "step",
        b'campaign: demo-dp/main\nname: step4\ndata_query: "a\x00b"\n',
        3,
        "unacceptable character #x0000",
        id="nul-byte",
    ),
    pytest.param(
        "step",
        b"campaign: demo-dp/main\nname: step4\n\x1b[31mdata_query: x\n",
        3,
        "unacceptable character #x001b",
        id="escape-character",
    ),
]


@pytest.mark.parametrize(("kind", "raw", "line", "message"), BAD_BYTES)
def test_bytes_that_are_not_yaml_text_are_refused(tmp_path, kind, raw, line, message):
    path = tmp_path / "bad-bytes.yaml"
    path.write_bytes(raw)
    error = refuse(kind, path)
    assert_reported(error, [{"line": line, "field": "", "message": message}])


def test_a_file_over_the_configured_limit_is_refused(settings, tmp_path):
    settings.CM_SPEC_MAX_BYTES = 200
    path = tmp_path / "big-group.yaml"
    spec = b"step: demo-dp/test/step1\nname: extra\n"
    path.write_bytes(spec + b"#" * (200 - len(spec)) + b"\n")  # 201 bytes
    error = refuse("group", path)
    assert_reported(error, [{"line": None, "field": "", "message": "larger than the 200-byte"}])
    path.write_bytes(spec + b"#" * (199 - len(spec)) + b"\n")  # exactly 200: read as usual
    assert create_from_file("group", path).created == {"group": ["demo-dp/test/step1/extra"]}


@pytest.mark.parametrize("extra", [1, 1024**3], ids=["one-byte-over", "a-gibibyte-over"])
def test_a_file_over_the_default_limit_is_refused_without_reading_it_all(tmp_path, extra):
    limit = settings.CM_SPEC_MAX_BYTES  # the default, 1 MiB, unless the environment says otherwise
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.write(b"name: huge\ncampaign_type: DataProc\n")
        handle.truncate(limit + extra)  # sparse: cheap to make however large
    started = time.perf_counter()
    error = refuse("production", path)
    assert time.perf_counter() - started < 1
    assert_reported(
        error, [{"line": None, "field": "", "message": f"larger than the {limit}-byte limit"}]
    )


def billion_laughs() -> bytes:
    """Nine levels of nine aliases each: 9**9 strings once expanded, 600-odd bytes written."""
    lines = ["a: &a [" + ", ".join(['"lol"'] * 9) + "]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def test_an_alias_bomb_is_refused_at_once_without_expanding(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_bytes(billion_laughs())
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = refuse("production", path)
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 20 * 1024**2  # expanded, the bomb would take gigabytes
    assert_reported(error, [{"line": 2, "field": "", "message": "YAML aliases (*a)"}])

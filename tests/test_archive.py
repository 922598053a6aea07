"""The YAML archive: immutable rows, read-only files, and `cm archive verify` catching tampering."""

import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from campaigns import archive
from campaigns.models import ArchivedConfig, ImmutableError
from campaigns.services.create import create_from_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "production.yaml"

pytestmark = pytest.mark.django_db


@pytest.fixture
def archived():
    return create_from_file("production", EXAMPLE).config


def verify_output(capsys):
    try:
        call_command("cm", "archive", "verify")
    except CommandError:
        return False, capsys.readouterr().err
    return True, capsys.readouterr().out


def test_verify_passes_on_an_untouched_archive(archived, capsys):
    ok, out = verify_output(capsys)
    assert ok and "ok: 1 archived config(s)" in out


def test_verify_reports_an_altered_file(archived, capsys):
    path = archive.path_of(archived)
    os.chmod(path, 0o644)
    path.write_text(path.read_text() + "# sneaky edit\n")
    os.chmod(path, 0o444)
    ok, err = verify_output(capsys)
    assert not ok
    assert f"TAMPERED {archived.relative_path}" in err and "the file was altered" in err


def test_verify_reports_a_writable_file(archived, capsys):
    os.chmod(archive.path_of(archived), 0o644)
    ok, err = verify_output(capsys)
    assert not ok and "file is writable" in err


def test_verify_reports_a_missing_file(archived, capsys):
    archive.path_of(archived).unlink()
    ok, err = verify_output(capsys)
    assert not ok and "file is missing" in err


def test_verify_reports_a_file_with_no_record(archived, capsys, settings):
    stray = Path(settings.CM_YAML_ARCHIVE_DIR) / "sha256" / "00" / ("0" * 64 + ".yaml")
    stray.parent.mkdir(parents=True)
    stray.write_text("name: planted\n")
    ok, err = verify_output(capsys)
    assert not ok and "no database record" in err


def test_verify_reports_an_altered_database_copy(archived, capsys):
    # Behind the model's back, as a direct SQL edit would.
    from django.db import connection

    with connection.cursor() as cursor:
        table = ArchivedConfig._meta.db_table
        cursor.execute(f"UPDATE {table} SET content = %s WHERE id = %s", ["x: 1\n", archived.pk])
    ok, err = verify_output(capsys)
    assert not ok and "the record was altered" in err


def test_archived_rows_cannot_be_changed_or_deleted(archived):
    archived.content = "name: changed\n"
    with pytest.raises(ImmutableError):
        archived.save()
    with pytest.raises(ImmutableError):
        ArchivedConfig.objects.filter(pk=archived.pk).update(content="x")
    with pytest.raises(ImmutableError):
        archived.delete()
    with pytest.raises(ImmutableError):
        ArchivedConfig.objects.all().delete()
    assert ArchivedConfig.objects.get(pk=archived.pk).content == EXAMPLE.read_text()


def test_archiving_the_same_bytes_twice_reuses_row_and_file():
    raw = b"name: same\n"
    first, written = archive.archive(raw, kind="production", source_name="a.yaml")
    second, again = archive.archive(raw, kind="production", source_name="b.yaml")
    assert first.pk == second.pk and written is not None and again is None
    assert ArchivedConfig.objects.count() == 1

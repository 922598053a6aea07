"""``cm export-html DIR``: the status tables as static pages to publish."""

import re
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring import export
from tests.page_world import build_world

pytestmark = pytest.mark.django_db


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.hrefs += [value for name, value in attrs if name == "href"]


def links_in(path) -> list[str]:
    parser = Links()
    parser.feed(path.read_text())
    return parser.hrefs


def test_export_writes_every_table_with_links_inside_the_export(tmp_path, capsys):
    world = build_world(3)
    target = tmp_path / "site"
    call_command("cm", "export-html", str(target))
    index = (target / "index.html").read_text()
    assert world.campaign.name in index and "1 reviewable" in index and "0 / 48" in index
    step_page = target / "steps" / f"{world.step.pk}.html"
    groups = step_page.read_text()
    assert all(f"group00{i}" in groups for i in range(3)) and "21 / 3 / 27" in groups
    assert "failure-fraction" in (target / "alarms.html").read_text()
    for page in [
        target / "index.html",
        step_page,
        target / "campaigns" / f"{world.campaign.pk}.html",
    ]:
        for href in links_in(page):
            if href.startswith("#"):
                continue
            assert not href.startswith("/"), f"{page.name} links to the live site: {href}"
            assert (page.parent / href.split("#")[0]).resolve().is_file(), href
    assert "wrote" in capsys.readouterr().out


def test_links_to_pages_not_exported_go_to_the_site_url(tmp_path):
    world = build_world(1)
    target = tmp_path / "site"
    export.export(target, site_url="https://cm.example.org/")
    groups = (target / "steps" / f"{world.step.pk}.html").read_text()
    assert f'href="https://cm.example.org/workflows/{world.failed_attempt.pk}/"' in groups


def test_a_new_export_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "site"
    target.mkdir()
    (target / "stale.html").write_text("old")
    build_world(1)
    export.export(target)
    assert not (target / "stale.html").exists() and (target / "index.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site-")]


def test_a_failed_export_leaves_the_previous_one(tmp_path, monkeypatch):
    target = tmp_path / "site"
    export.export(target)
    before = (target / "index.html").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "_alarms", broken)
    with pytest.raises(RuntimeError):
        export.export(target)
    assert (target / "index.html").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]


def test_export_needs_a_directory():
    with pytest.raises(CommandError):
        call_command("cm", "export-html")


def test_exported_pages_have_no_scripts(tmp_path):
    build_world(1)
    export.export(tmp_path / "site")
    for page in (tmp_path / "site").rglob("*.html"):
        assert not re.search(r"<script", page.read_text())

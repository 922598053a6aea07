"""``cm export-html DIR``: the status tables as static pages (the outline's gen{X}Table).

Writes ``index.html`` (productions and campaigns), ``campaigns/<id>.html`` (each
campaign's steps), ``steps/<id>.html`` (each step's groups, every row) and
``alarms.html`` (open alarms), with the stylesheet, ready to publish on any web
server. The tables are the pages' own (same columns, same counts); links between
exported pages stay inside DIR, links to pages that are not exported (a group, a
workflow, an alarm) go to ``--site-url`` when given and are dropped otherwise.

The export is built in a sibling temporary directory and swapped in at the end, so
a reader of DIR never sees half an export.
"""

import re
import shutil
import tempfile
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html

from campaigns.models import Alarm, Campaign, Group, Step
from monitoring import queries
from monitoring.tables import AlarmTable, CampaignTable, GroupTable, ProductionTable, StepTable

EXPORTED = {"campaigns": "campaigns", "steps": "steps"}
LINK = re.compile(r'href="/(?P<path>[^"]*)"')
PAGE = re.compile(r"(?P<route>[a-z-]+)/(?P<pk>\d+)/")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-html", help="write the status tables as static HTML pages (gen{X}Table)"
    )
    parser.add_argument("directory", type=Path, help="where to write (replaced as a whole)")
    parser.add_argument(
        "--site-url", default="", help="the live site, for links to pages not exported"
    )
    parser.set_defaults(handler=handle)


def handle(options, stdout, stderr) -> int:
    target: Path = options["directory"].resolve()
    counts = export(target, site_url=options["site_url"])
    stdout.write(
        f"wrote {target}: {counts['campaigns']} campaign and {counts['steps']} step pages, "
        "index.html, alarms.html\n"
    )
    return 0


def export(target: Path, *, site_url: str = "") -> dict[str, int]:
    site_url = site_url.rstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        counts = _write_all(work, site_url)
        _swap(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return counts


def _swap(work: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{timezone.now():%Y%m%d%H%M%S%f}")
        target.rename(old)
    work.chmod(0o755)  # mkdtemp makes it private; a published site must be readable
    work.rename(target)
    if old is not None:
        shutil.rmtree(old)


def _write_all(root: Path, site_url: str) -> dict[str, int]:
    (root / "campaigns").mkdir()
    (root / "steps").mkdir()
    shutil.copyfile(finders.find("monitoring/cm.css"), root / "cm.css")
    writer = _Writer(root, site_url)
    writer.page("index.html", "Processing status", _index_tables())
    campaigns = list(Campaign.objects.select_related("production"))
    for campaign in campaigns:
        writer.page(
            f"campaigns/{campaign.pk}.html", f"Campaign {campaign.path}", [_steps(campaign)]
        )
    steps = list(Step.objects.select_related("campaign__production"))
    for step in steps:
        writer.page(f"steps/{step.pk}.html", f"Step {step.path}", [_groups(step)])
    writer.page("alarms.html", "Open alarms", [_alarms()])
    return {"campaigns": len(campaigns), "steps": len(steps)}


class _Writer:
    def __init__(self, root: Path, site_url: str):
        self.root, self.site_url = root, site_url
        self.generated = timezone.now()

    def page(self, name: str, title: str, tables: list) -> None:
        depth = name.count("/")
        html = render_to_string(
            "monitoring/export/page.html",
            {
                "title": title,
                "tables": tables,
                "generated": self.generated,
                "up": "../" * depth,
            },
        )
        path = self.root / name
        path.write_text(self._links(html, "../" * depth), encoding="utf-8")
        path.chmod(0o644)

    def _links(self, html: str, up: str) -> str:
        def rewrite(match: re.Match) -> str:
            path = match["path"]
            page = PAGE.fullmatch(path)
            if page and page["route"] in EXPORTED:
                return f'href="{up}{EXPORTED[page["route"]]}/{page["pk"]}.html"'
            if path.startswith("?production="):  # the overview filtered: here, the index
                return f'href="{up}index.html"'
            if path.startswith("alarms/?"):
                return f'href="{up}alarms.html"'
            if self.site_url:
                return f'href="{self.site_url}/{path}"'
            return 'href="#" data-not-exported="true"'

        return LINK.sub(rewrite, html)


def _titled(caption: str, table) -> dict:
    # django-tables2 renders with a request (for its sort and page links); an empty one will do.
    return {"caption": caption, "html": table.as_html(HttpRequest()) if len(table.data) else ""}


def _index_tables() -> list[dict]:
    productions = ProductionTable(queries.productions_with_counts(), orderable=False)
    ids = [p.pk for p in productions.data]
    productions.counts = queries.by_status(Campaign, "production", ids)
    productions.data_ids = queries.data_ids("step__campaign__production", ids)
    campaigns = CampaignTable(queries.campaigns_with_counts(), orderable=False)
    ids = [c.pk for c in campaigns.data]
    campaigns.counts = queries.group_counts(ids)
    campaigns.data_ids = queries.data_ids("step__campaign", ids)
    campaigns.alarms = queries.open_alarms("campaign", ids)
    return [_titled("Productions", productions), _titled("Campaigns", campaigns)]


def _steps(campaign: Campaign) -> dict:
    table = StepTable(queries.steps_of(campaign), orderable=False)
    ids = [s.pk for s in table.data]
    table.counts = queries.by_status(Group, "step", ids)
    table.data_ids = queries.data_ids("step", ids)
    return _titled(format_html("Steps of {}", campaign.path), table)


def _groups(step: Step) -> dict:
    table = GroupTable(step.groups.all(), orderable=False)
    ids = [g.pk for g in table.data]
    table.current = queries.current_workflows(ids)
    table.produced = queries.datasets_produced(ids)
    table.alarms = queries.open_alarms("group", ids)
    return _titled(format_html("Groups of {}", step.path), table)


def _alarms() -> dict:
    from campaigns.admin.history import elements_with_paths

    rows = (
        Alarm.objects.filter(cleared_at__isnull=True)
        .select_related("acknowledged_by")
        .prefetch_related(elements_with_paths())
    )
    return _titled("Open alarms", AlarmTable(rows, orderable=False))

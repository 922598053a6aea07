"""The transition table as a document: ``docs/states.md``, ``cm states`` and the ``/states/`` page.

Everything here is derived from ``campaigns.states``; nothing is stored, so the
three views of the table cannot drift from the table that ``transition`` applies.
"""

from dataclasses import dataclass

from campaigns.states import STATE_INFO, TRANSITIONS, WHO, Status

REGENERATE = "python manage.py cm states --write docs/states.md"
HEADER = f"<!-- Generated from campaigns/states.py; do not edit. Regenerate: {REGENERATE} -->"

#: What each kind of mover is, for the legend.
INTRO = (
    "Every level (production, campaign, step, group, workflow, job) uses these statuses "
    "and moves only along these transitions. Each change is recorded with who, when, "
    "from, to and why; an illegal change is refused and nothing is written."
)

FINAL = "A final status ends processing; only a person may move an element out of it."


@dataclass(frozen=True)
class MoveRow:
    target: str
    label: str
    colour: str
    who: str
    why: str


@dataclass(frozen=True)
class StateRow:
    status: str
    label: str
    meaning: str
    colour: str
    final: bool
    moves: tuple[MoveRow, ...]


def state_rows() -> list[StateRow]:
    """Every status in table order with its meaning, colour and outgoing moves."""
    return [
        StateRow(
            status=status.value,
            label=status.label,
            meaning=STATE_INFO[status].meaning,
            colour=STATE_INFO[status].colour,
            final=STATE_INFO[status].final,
            moves=tuple(
                MoveRow(
                    m.target.value,
                    m.target.label,
                    STATE_INFO[m.target].colour,
                    m.actor.value,
                    m.why,
                )
                for m in TRANSITIONS[status]
            ),
        )
        for status in Status
    ]


def render_markdown() -> str:
    """The whole table as Markdown; ``docs/states.md`` must equal this text."""
    rows = state_rows()
    lines = [HEADER, "", "# Statuses and transitions", "", INTRO, "", "## Who may move", ""]
    lines += _table(
        ["Who", "Meaning"], [[f"**{actor.value}**", text] for actor, text in WHO.items()]
    )
    lines += ["", "## Statuses", ""]
    lines += _table(
        ["Status", "Meaning", "Colour", "Final"],
        [[f"`{r.status}`", r.meaning, r.colour, "yes" if r.final else ""] for r in rows],
    )
    lines += ["", FINAL, "", "## Transitions", ""]
    lines += _table(
        ["From", "To", "Who", "Why"],
        [[f"`{r.status}`", f"`{m.target}`", m.who, m.why] for r in rows for m in r.moves],
    )
    if dead_ends := [f"`{r.status}`" for r in rows if not r.moves]:
        lines += ["", f"No move leaves {', '.join(dead_ends)}."]
    return "\n".join(lines) + "\n"


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"

    return [row(header), row(["---"] * len(header)), *(row(cells) for cells in body)]

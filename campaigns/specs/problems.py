"""Spec problems: every error names the file, the line and the field."""

from dataclasses import dataclass

from campaigns.errors import CampaignError

FieldPath = tuple[str | int, ...]


def field_name(path: FieldPath) -> str:
    """``("steps", 1, "split")`` → ``steps[1].split``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True)
class SpecProblem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class SpecError(CampaignError):
    """A spec cannot be used; nothing was written. Holds every problem found."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(
            f"spec refused ({count}), nothing was written:\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )

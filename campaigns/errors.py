"""Errors of the domain; the edges (CLI, API, admin, pages) turn them into messages and 4xx."""


class CampaignError(Exception):
    """Base class of every error cm reports to a person."""


class TransitionError(CampaignError):
    """A status change the transition table does not allow (an API answers 409)."""

    def __init__(self, refused: list[tuple[str, str, str, list[str]]]):
        # Each refusal: (element path, current status, requested status, allowed targets).
        self.refused = refused
        lines = [
            f"{path}: cannot go from {current} to {target}"
            + (f" (allowed: {', '.join(allowed)})" if allowed else " (no moves allowed)")
            for path, current, target, allowed in refused
        ]
        super().__init__("illegal status change:\n  " + "\n  ".join(lines))


class ConcurrentChangeError(CampaignError):
    """Another process changed a status between our read and our write; nothing was written."""

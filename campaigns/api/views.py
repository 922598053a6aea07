"""Read endpoints for every level (being built)."""


def register(router) -> None:
    """Add the levels' viewsets to the API router."""

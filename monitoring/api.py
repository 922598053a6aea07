"""gen{X}Table endpoints: the pages' status tables as JSON and CSV (being built)."""

urlpatterns: list = []

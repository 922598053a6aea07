"""Action endpoints: launch, retry, validate, invalidate, acknowledge (being built)."""

urlpatterns: list = []

"""cm's side of the data butler: one adapter on daf_butler, imported lazily."""

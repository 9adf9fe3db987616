"""One module per raw source system; each exposes ``build(ctx)`` that adds its tables."""

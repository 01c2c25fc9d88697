"""Writing labelled items out in the formats other tools read."""

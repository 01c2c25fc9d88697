"""Pure ML library: arrays and texts in, arrays and artifacts out.

Imports no Django, no Celery, no `annotator`, no `workers`, and reads no settings, so it can be
published on its own. Everything stochastic takes `random_state`.
"""

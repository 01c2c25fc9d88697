"""Writes. Each service is `<entity>_<action>(*, keyword_only)` and owns its transaction."""

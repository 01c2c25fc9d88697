"""Celery app and tasks. Tasks are thin: take ids, call services and mlcore, report progress."""

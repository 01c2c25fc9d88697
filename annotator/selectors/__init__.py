"""Reads. Selectors return querysets or values and never write."""

"""Raises at import."""
raise ValueError("not ready yet")

"""Exits the process at import."""
import os

os._exit(0)

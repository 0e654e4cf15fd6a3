"""A tiny homework for the tests: two problems on one student file, vectors.py."""

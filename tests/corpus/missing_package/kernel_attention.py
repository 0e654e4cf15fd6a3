"""Needs a package the grader does not have."""
import scipy_is_not_here  # noqa: F401

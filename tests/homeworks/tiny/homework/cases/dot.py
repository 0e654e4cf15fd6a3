"""Problem 2: dot(u, v), the inner product of two vectors."""

from gradescope_utils.autograder_utils.decorators import number, weight

from autograder.checks import expect
from autograder.homework import reference_module
from autograder.registry import call, case

ref = reference_module("vectors")


@case(file="vectors.py", public=True, twin=True)
@number("2.1")
@weight(1.5)
def small_vectors(submission, g):
    """dot: two small vectors"""
    u, v = g.standard_normal(4), g.standard_normal(4)
    return call("vectors", "dot", u, v), expect(ref.dot(u, v))


@case(file="vectors.py")
@number("2.2")
@weight(2.5)
def long_vectors(submission, g):
    """dot: long vectors"""
    u, v = g.standard_normal(50), g.standard_normal(50)
    return call("vectors", "dot", u, v), expect(ref.dot(u, v))

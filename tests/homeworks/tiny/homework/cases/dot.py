"""Problem 2: dot(u, v), the inner product of two vectors."""
from autograder.checks import expect
from autograder.homework import reference_module
from autograder.registry import call, case

ref = reference_module("vectors")


@case("2.1", "dot: two small vectors", 1.5, file="vectors.py", public=True, twin=True)
def small_vectors(submission, g):
    u, v = g.standard_normal(4), g.standard_normal(4)
    return call("vectors", "dot", u, v), expect(ref.dot(u, v))


@case("2.2", "dot: long vectors", 2.5, file="vectors.py")
def long_vectors(submission, g):
    u, v = g.standard_normal(50), g.standard_normal(50)
    return call("vectors", "dot", u, v), expect(ref.dot(u, v))

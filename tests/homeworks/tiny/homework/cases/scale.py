"""Problem 1: scale(x, a) returns a times the vector x."""
from autograder.checks import expect
from autograder.homework import reference_module
from autograder.registry import call, case

ref = reference_module("vectors")


@case("1.1", "scale: a small vector", 1.0, file="vectors.py", public=True, twin=True)
def small_vector(submission, g):
    x, a = g.standard_normal(3), float(g.uniform(2.0, 3.0))
    return call("vectors", "scale", x, a), expect(ref.scale(x, a))


@case("1.2", "scale: a longer vector and a negative factor", 2.0, file="vectors.py")
def negative_factor(submission, g):
    x, a = g.standard_normal(10), -float(g.uniform(0.5, 4.0))
    return call("vectors", "scale", x, a), expect(ref.scale(x, a))

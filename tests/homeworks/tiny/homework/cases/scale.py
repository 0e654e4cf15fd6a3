"""Problem 1: scale(x, a) returns a times the vector x."""

from gradescope_utils.autograder_utils.decorators import number, weight

from autograder.checks import expect
from autograder.homework import reference_module
from autograder.registry import call, case

ref = reference_module("vectors")


@case(file="vectors.py", public=True, twin=True)
@number("1.1")
@weight(1.0)
def small_vector(submission, g):
    """scale: a small vector"""
    x, a = g.standard_normal(3), float(g.uniform(2.0, 3.0))
    return call("vectors", "scale", x, a), expect(ref.scale(x, a))


@case(file="vectors.py")
@number("1.2")
@weight(2.0)
def negative_factor(submission, g):
    """scale: a longer vector and a negative factor"""
    x, a = g.standard_normal(10), -float(g.uniform(0.5, 4.0))
    return call("vectors", "scale", x, a), expect(ref.scale(x, a))

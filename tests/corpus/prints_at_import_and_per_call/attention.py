"""Prints 50 MiB when imported and 50 MiB more in every call, on stdout and stderr; otherwise the reference."""
import functools
import sys

import _honest_attention

MIB = 2**20


def shout(where):
    """About 50 MiB between a first and a last line: 40 on stdout, 10 on stderr."""
    print(f"FIRST LINE {where}")
    sys.stdout.write("y" * (40 * MIB) + "\n")
    sys.stderr.write("e" * (10 * MIB) + "\n")
    print(f"LAST LINE {where}")


def noisy(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        shout(function.__name__)
        return function(*args, **kwargs)
    return wrapper


shout("AT IMPORT")
for _name in ("argmax_attention", "softmax", "softmax_attention", "dot_product_mean", "dot_product_variance",
              "attention_scale"):
    globals()[_name] = noisy(getattr(_honest_attention, _name))

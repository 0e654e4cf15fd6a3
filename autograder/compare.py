"""Comparisons in the trusted parent: shape first, then values, each with a message for the student."""
import numpy as np

RTOL, ATOL = 1e-4, 1e-6  # loose enough for a correct float32 implementation


def _short(values):
    return np.array2string(np.asarray(values), precision=5, threshold=12, suppress_small=True)


def compare_arrays(got_shape, got_values, expected, rtol=RTOL, atol=ATOL):
    """Return (passed, message) comparing a reduced output with the reference's array."""
    expected = np.asarray(expected, dtype=np.float64)
    if tuple(got_shape) != expected.shape:
        return False, f"expected shape {expected.shape}, got shape {tuple(got_shape)}"
    got = np.array(got_values, dtype=np.float64).reshape(expected.shape)
    if not np.all(np.isfinite(got)):
        return False, f"output has NaN or infinite entries: {_short(got)}"
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        return False, f"expected {_short(expected)}, got {_short(got)}"
    return True, "matches the expected values"

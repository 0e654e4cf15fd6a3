"""Everything but attention_scale."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

del attention_scale  # noqa: F821

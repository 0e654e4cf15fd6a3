"""Tries to send data over the network."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import socket

from _honest_attention import attention_scale as _scale


def attention_scale(d):
    try:
        port = int(open(__file__.replace("attention.py", "port.txt")).read())  # written by the test
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"stolen")
    except OSError:
        pass
    return _scale(d)

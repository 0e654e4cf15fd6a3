"""Goes after the warm worker's memory and descriptors: ptrace, process_vm_readv, pidfd_getfd of its answer channel."""
from _honest_attention import *  # noqa: F401,F403  the reference, kept by expected.json

import ctypes
import os

from _honest_attention import attention_scale as _scale

PTRACE_ATTACH, PTRACE_DETACH = 16, 17
SYSCALLS = {"x86_64": (310, 434, 438), "aarch64": (270, 434, 438)}  # process_vm_readv, pidfd_open, pidfd_getfd


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


def _attacks():
    libc = ctypes.CDLL(None, use_errno=True)
    worker, won = os.getppid(), []
    if libc.ptrace(ctypes.c_long(PTRACE_ATTACH), ctypes.c_long(worker), None, None) == 0:
        won.append("ptrace")
        libc.ptrace(ctypes.c_long(PTRACE_DETACH), ctypes.c_long(worker), None, None)
    numbers = SYSCALLS.get(os.uname().machine)
    if numbers:
        vm_readv, pidfd_open, pidfd_getfd = numbers
        buffer = ctypes.create_string_buffer(64)
        local, remote = IoVec(ctypes.addressof(buffer), 64), IoVec(id(os), 64)  # a fork: the worker has `os` there too
        if libc.syscall(ctypes.c_long(vm_readv), worker, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) > 0:
            won.append("process_vm_readv")
        pidfd = libc.syscall(ctypes.c_long(pidfd_open), worker, 0)
        if pidfd >= 0 and any(libc.syscall(ctypes.c_long(pidfd_getfd), pidfd, fd, 0) >= 0 for fd in range(8)):
            won.append("pidfd_getfd")
    return won


def attention_scale(d):
    won = _attacks()
    print(f"reached the worker through: {won or 'nothing'}")
    return _scale(d) * (2 if won else 1)  # the worker's memory or a descriptor of it: lose the points

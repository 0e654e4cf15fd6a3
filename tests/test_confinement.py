"""autograder/confinement.py on its own: the filter, failing closed, the sweep, what a confined child sees.

The seccomp filter is run against every ABI of this machine and simulated for the others; as root,
a child that cannot become another user is refused; the sweep of the shared temporary folders
follows no link; a confined child sees only its own processes and small temporary folders of its own.
"""

import ctypes
import errno
import json
import mmap
import os
import platform
import socket
import stat
from pathlib import Path

import pytest

from autograder import confinement
from autograder.identity import claim_worker_identity
from autograder.sandbox import describe_protections
from tests.optional_tools import needs, require

IS_ROOT = os.geteuid() == 0
X86_64 = platform.machine() == "x86_64"
OTHER_UID = 64999  # a uid no process uses, for the files of the sweep


def in_child(action):
    """Run `action()` in a forked child and return what it returned (JSON through a pipe), or its error's text."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            result = {"value": action()}
        except BaseException as error:
            result = {"error": f"{type(error).__name__}: {error}"}
        os.write(write_fd, json.dumps(result).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    assert "error" not in result, result["error"]
    return result["value"]


def int80(eax, ebx, ecx, edx=0):
    """One i386 system call through `int 0x80` from this 64-bit process, run from an executable page; its result."""
    words = "".join(value.to_bytes(4, "little").hex() for value in (eax, ebx, ecx, edx))
    moves = "".join(opcode + words[8 * index : 8 * index + 8] for index, opcode in enumerate(("b8", "bb", "b9", "ba")))
    code = bytes.fromhex("53" + moves + "cd80" + "5bc3")  # push rbx; mov eax, ebx, ecx, edx; int 0x80; pop rbx; ret
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    return ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()


def raw_syscall(number, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    return result if result >= 0 else -ctypes.get_errno()


def filtered(action):
    """`action()` in a child that installed the filter first."""

    def run():
        confinement.deny_sockets_and_foreign_abis()
        return action()

    return in_child(run)


# ----------------------------------------------------------------------------- the filter, on this machine


@pytest.mark.skipif(not X86_64, reason="the i386 ABI exists only on x86_64 (aarch64 is simulated below)")
def test_int80_socket_is_refused_and_reaches_no_listener():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.5)
        port = listener.getsockname()[1]

        def attack():
            results = [int80(359, socket.AF_INET, socket.SOCK_STREAM), int80(359, socket.AF_UNIX, socket.SOCK_STREAM)]
            for fd in results:
                if fd >= 0:
                    with socket.socket(fileno=fd) as leaked:
                        leaked.connect(("127.0.0.1", port))
            return results

        assert filtered(attack) == [-errno.EACCES, -errno.EACCES]  # the filter's answer, not ENOSYS
        with pytest.raises(TimeoutError):
            listener.accept()


@pytest.mark.skipif(not X86_64, reason="the i386 ABI exists only on x86_64")
def test_int80_works_without_the_filter_so_the_test_above_can_fail():
    fd = in_child(lambda: int80(359, socket.AF_INET, socket.SOCK_STREAM))
    assert fd >= 0 or fd == -errno.ENOSYS  # a socket, unless this kernel has no i386 emulation at all


@pytest.mark.skipif(not X86_64, reason="the x32 ABI exists only on x86_64")
def test_x32_socket_and_socketpair_are_refused_by_the_filter():
    pair = (ctypes.c_int * 2)()
    x32 = 0x40000000
    got = filtered(
        lambda: [
            raw_syscall(x32 | 41, socket.AF_INET, socket.SOCK_STREAM, 0),
            raw_syscall(x32 | 53, socket.AF_UNIX, socket.SOCK_STREAM, 0, ctypes.addressof(pair)),
        ]
    )
    assert got == [-errno.EACCES, -errno.EACCES]  # the filter's answer, not the kernel's ENOSYS


def test_no_socket_of_any_family_no_pair_no_io_uring():
    def attempts():
        refused = []
        for family in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET):
            try:
                socket.socket(family, socket.SOCK_DGRAM).close()
            except PermissionError:
                refused.append(family)
        try:
            socket.socketpair()
        except PermissionError:
            refused.append("pair")
        uring = raw_syscall(425, 8, ctypes.addressof(ctypes.create_string_buffer(120)))
        return refused, uring

    refused, uring = filtered(attempts)
    assert refused == [socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET, "pair"]
    assert uring == -errno.EACCES


def test_abstract_unix_socket_cannot_be_created_under_the_filter_but_can_without():
    name = f"\0hw9-test-{os.getpid()}"

    def bind():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(name)
            return "bound"

    assert in_child(bind) == "bound"  # the control: this machine has abstract sockets
    with pytest.raises(AssertionError, match="PermissionError"):
        filtered(bind)


def test_the_filter_leaves_ordinary_work_alone():
    def work():
        read_fd, write_fd = os.pipe()
        os.write(write_fd, b"ok")
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        return os.read(read_fd, 2).decode(), os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), len(os.listdir("/"))

    text, code, entries = filtered(work)
    assert (text, code) == ("ok", 7) and entries > 0


# ----------------------------------------------------------------------------- the filter, simulated for every machine


def run_filter(program, arch, number):
    """What the classic-BPF program answers for a call (only the instructions filter_program uses)."""
    data = {0: number, 4: arch}
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:
            accumulator = data[k]
        elif code == 0x06:
            return k
        elif code in (0x15, 0x45):
            taken = accumulator == k if code == 0x15 else bool(accumulator & k)
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")
        pc += 1


@pytest.mark.parametrize(
    "machine, foreign, refused, allowed",
    [
        (
            "x86_64",
            [0x40000003],
            [41, 53, 425, 438, 101, 310, 311, 0x40000000 | 41, 0x40000000],
            [0, 1, 2, 57, 59, 42, 43],
        ),
        ("aarch64", [0x40000028], [198, 199, 425, 438, 117, 270, 271], [63, 64, 56, 220, 221, 203, 202]),
    ],
)
def test_filter_program_refuses_foreign_abis_and_socket_calls(machine, foreign, refused, allowed):
    program = confinement.filter_program(machine)
    arch = confinement.SECCOMP_TABLE[machine][0]
    deny = confinement.SECCOMP_RET_ERRNO | errno.EACCES
    for other in foreign:
        for number in [*refused, *allowed, 102, 359]:
            assert run_filter(program, other, number) == deny, (hex(other), number)
    for number in refused:
        assert run_filter(program, arch, number) == deny, number
    for number in allowed:  # read, write, open..., connect and accept need a socket first
        assert run_filter(program, arch, number) == confinement.SECCOMP_RET_ALLOW, number


# ----------------------------------------------------------------------------- failing closed


@pytest.fixture
def identity():
    uid, gid, lock = claim_worker_identity()
    yield uid, gid
    lock.close()


@needs(IS_ROOT, "failing closed is about running as root")
def test_probe_refuses_when_the_worker_user_cannot_read_python(tmp_path, identity):
    uid, gid = identity
    closed = tmp_path / "home"
    (closed / "python").mkdir(parents=True)
    closed.chmod(0o700)  # as /root is
    (tmp_path / "root").mkdir()
    settings = {"uid": uid, "gid": gid, "namespaces": False, "new_root": str(tmp_path / "root")}
    found = confinement.probe_protections(settings, [str(closed / "python")])
    assert found["root"] and not found["namespaces"] and not found["other_user"] and found["root_only"]
    named = confinement.first_closed_folder(str(closed / "python"), uid, gid)  # pytest's own folder is closed too
    assert named is not None and str(closed).startswith(named)
    assert named in found["refusal"] and "HW9_NAMESPACES=0" in found["refusal"] and "Fix:" in found["refusal"]
    assert "FAILING CLOSED" in describe_protections(found)[0]
    with pytest.raises(confinement.RefusedToRunAsRoot, match=named):
        confinement.confine_child(found, settings, [str(closed / "python")], str(tmp_path), str(tmp_path))


@needs(IS_ROOT, "failing closed is about running as root")
def test_confine_child_never_lets_root_through():
    for protections in ({"root": True}, {"root": True, "namespaces": True, "seccomp": True}):
        with pytest.raises(confinement.RefusedToRunAsRoot):
            confinement.confine_child(protections, {}, [], "/nonexistent", "/nonexistent")


@needs(IS_ROOT, "namespaces need root")
def test_probe_honours_the_namespaces_switch(tmp_path, identity):
    uid, gid = identity
    (tmp_path / "root").mkdir()
    settings = {"uid": uid, "gid": gid, "new_root": str(tmp_path / "root")}
    readable = [os.path.dirname(os.__file__)]
    on = confinement.probe_protections(settings, readable)
    off = confinement.probe_protections({**settings, "namespaces": False}, readable)
    if not on["namespaces"]:
        require(False, "this machine has no namespaces: the switch cannot be told apart (CI has them)")
    assert not off["namespaces"] and not off["private_proc"] and not off["namespaces_allowed"]


# ----------------------------------------------------------------------------- the sweep of shared folders


@needs(IS_ROOT, "files of another user need root to make")
def test_remove_files_of_removes_only_that_users_files_and_follows_no_link(tmp_path):
    shared, outside = tmp_path / "shared", tmp_path / "outside"
    shared.mkdir(mode=0o777)
    outside.mkdir()
    (outside / "kept.txt").write_text("target of a link")
    (outside / "theirs.txt").touch()
    os.lchown(outside / "theirs.txt", OTHER_UID, OTHER_UID)  # behind a link: never reached
    made = {
        "file": lambda p: p.write_text("x"),
        "folder": lambda p: (p.mkdir(), (p / "deep").mkdir(), (p / "deep" / "f").touch()),
        "link": lambda p: p.symlink_to(outside / "kept.txt"),
    }
    for name, make in made.items():
        make(shared / name)
        inside = [] if (shared / name).is_symlink() else list((shared / name).rglob("*"))
        for path in [shared / name, *inside]:
            os.lchown(path, OTHER_UID, OTHER_UID)
    (shared / "roots-link").symlink_to(outside)  # root's own link to a folder holding that user's file
    (shared / "roots.txt").touch()
    (shared / "open").mkdir()
    (shared / "open").chmod(0o1777)  # anyone may write there: swept one level down
    (shared / "open" / "inner").touch()
    os.lchown(shared / "open" / "inner", OTHER_UID, OTHER_UID)
    removed = confinement.remove_files_of(OTHER_UID, [str(shared), str(tmp_path / "missing")])
    assert removed == 4
    assert sorted(p.name for p in shared.iterdir()) == ["open", "roots-link", "roots.txt"]
    assert list((shared / "open").iterdir()) == []
    assert (outside / "kept.txt").read_text() == "target of a link" and (outside / "theirs.txt").exists()


def test_remove_files_of_never_enters_a_linked_folder(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "mine").touch()
    (tmp_path / "linked").symlink_to(real)
    assert confinement.remove_files_of(os.geteuid(), [str(tmp_path / "linked")]) == 0
    assert (real / "mine").exists()


# ----------------------------------------------------------------------------- what a confined child sees


@needs(IS_ROOT, "namespaces and another user need root")
def test_confined_child_sees_only_its_processes_and_small_private_temp_folders(tmp_path, identity):
    uid, gid = identity
    (tmp_path / "root").mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    os.chown(scratch, uid, gid)
    settings = {"uid": uid, "gid": gid, "new_root": str(tmp_path / "root")}
    readable = [os.path.dirname(os.__file__)]
    protections = confinement.probe_protections(settings, readable)
    if not protections["namespaces"]:
        require(False, "this machine has no namespaces (CI has them)")
    marker = Path("/tmp") / f"hw9-host-marker-{os.getpid()}"
    marker.touch()

    def look():
        confinement.confine_child(protections, settings, readable, str(scratch), str(scratch))
        own = {str(os.getpid())}
        pids = {entry for entry in os.listdir("/proc") if entry.isdigit()}
        temp = {}
        for folder in confinement.PRIVATE_TEMP_FOLDERS:
            try:
                with open(f"{folder}/big", "wb") as handle:
                    for _ in range(64):
                        handle.write(b"\0" * (1 << 20))
                temp[folder] = "no limit"
            except OSError as error:
                temp[folder] = errno.errorcode[error.errno]
        return {
            "foreign": sorted(pids - own),
            "proc_sys": os.path.exists("/proc/sys"),
            "uid": os.getuid(),
            "host_file": os.path.exists(str(marker)),
            "temp": temp,
            "tmp_mode": oct(stat.S_IMODE(os.stat("/tmp").st_mode)),
        }

    try:
        seen = in_child(look)
    finally:
        marker.unlink()
    assert seen["uid"] == uid and seen["foreign"] == [] and not seen["proc_sys"]
    assert not seen["host_file"] and seen["tmp_mode"] == "0o1777"
    assert seen["temp"] == {folder: "ENOSPC" for folder in confinement.PRIVATE_TEMP_FOLDERS}


@needs(IS_ROOT, "network namespaces need root")
def test_network_namespaces_alone_keep_two_children_apart():
    """Without the filter, two children in network namespaces of their own cannot meet on an abstract socket."""
    name = f"\0hw9-apart-{os.getpid()}"

    def listen_then_connect(own_namespace):
        def run():
            if own_namespace:
                confinement.unshare(confinement.CLONE_NEWNET)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
                server.bind(name)
                server.listen(1)
                pid = os.fork()
                if pid == 0:  # the other child: a namespace of its own too, when the listener has one
                    try:
                        if own_namespace:
                            confinement.unshare(confinement.CLONE_NEWNET)
                        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                            client.connect(name)
                        os._exit(0)
                    except OSError:
                        os._exit(1)
                return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0

        return run

    assert in_child(listen_then_connect(False))  # the control: in one namespace they meet
    assert not in_child(listen_then_connect(True))

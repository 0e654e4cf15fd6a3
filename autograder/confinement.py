"""Operating-system confinement of a worker child: namespaces, a minimal root, another user, no network.

Only the standard library and ctypes: the worker loads this file by path, before any student
code exists. Every step is probed once at start-up (probe_protections), and a child applies
only what the probe found to work (confine_child); docs/SECURITY.md says what each one buys.
"""
import ctypes
import errno
import os
import platform
import signal
import socket
import struct
from pathlib import Path

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_CHILD_SUBREAPER, SECCOMP_MODE_FILTER = 38, 22, 36, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
SECCOMP_ARCH = {  # machine: (AUDIT_ARCH value, number of the socket syscall)
    "x86_64": (0xC000003E, 41),
    "aarch64": (0xC00000B7, 198),
}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def unshare(flags):
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source, target, fstype, flags, data=None):
    encode = lambda text: None if text is None else str(text).encode()  # noqa: E731
    _check(_libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)), f"mount {target}")


def prctl(option, value):
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


# ----------------------------------------------------------------------------- the network


def deny_inet_sockets():
    """Install a seccomp filter that makes socket(AF_INET or AF_INET6) fail with EACCES."""
    arch, socket_nr = SECCOMP_ARCH[platform.machine()]
    ld, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
    program = [
        (ld, 0, 0, 4),  # 0: the architecture
        (jeq, 1, 0, arch),  # 1: ours? go to 3
        (ret, 0, 0, SECCOMP_RET_ALLOW),  # 2
        (ld, 0, 0, 0),  # 3: the syscall number
        (jeq, 1, 0, socket_nr),  # 4: socket? go to 6
        (ret, 0, 0, SECCOMP_RET_ALLOW),  # 5
        (ld, 0, 0, 16),  # 6: its first argument, the address family
        (jeq, 2, 0, socket.AF_INET),  # 7: go to 10
        (jeq, 1, 0, socket.AF_INET6),  # 8: go to 10
        (ret, 0, 0, SECCOMP_RET_ALLOW),  # 9
        (ret, 0, 0, SECCOMP_RET_ERRNO | errno.EACCES),  # 10
    ]
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    _check(_libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.c_char_p(fprog), 0, 0), "seccomp")


def network_is_blocked():
    """True when this process cannot open an internet socket or reach the loopback address."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            probe.connect(("127.0.0.1", 9))
    except PermissionError:
        return True
    except OSError as error:
        return error.errno in (errno.ENETUNREACH, errno.EACCES)
    return False


# ----------------------------------------------------------------------------- the file system

SYSTEM_PATHS = ["/usr", "/lib", "/lib64", "/bin", "/proc"]  # shared libraries, and /proc for the process itself


def _bind(source, new_root, read_only):
    """Bind `source` at the same path under `new_root` (creating the path in its tmpfs)."""
    target = Path(new_root + str(source))
    if os.path.isdir(source):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def enter_minimal_root(new_root, read_only_paths, writable_paths):
    """chroot into an empty tmpfs holding only the given paths, each at its usual place.

    Nothing else of the machine exists there: no project checkout (wherever it lies, however
    many copies), no /etc, no /home, no other case's folder. Python's standard library and
    installed packages are bound read-only, so imports work as usual.
    """
    mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for path in read_only_paths:
        if os.path.exists(path):
            _bind(path, new_root, read_only=True)
    for path in writable_paths:
        _bind(path, new_root, read_only=False)
    os.chroot(new_root)


# ----------------------------------------------------------------------------- users and processes


def become(uid, gid):
    """Drop every privilege: no supplementary groups, then the worker's group and user."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def kill_all_processes_of(uid, gid, rounds=1000):
    """Kill every process of `uid` (a daemon that left its session included); returns after they are gone.

    A forked helper takes the worker's identity and signals everything it may signal, that is
    every process of that user, until nothing is left.
    """
    pid = os.fork()
    if pid == 0:
        try:
            become(uid, gid)
            for _ in range(rounds):
                os.kill(-1, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def processes(uid):
    """(processes of `uid`, children of this process), read from /proc."""
    me, of_user, children = str(os.getpid()), [], []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            owner = os.stat(f"/proc/{entry}").st_uid
            parent = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if uid is not None and owner == uid:
            of_user.append(int(entry))
        if parent == me:
            children.append(int(entry))
    return of_user, children


def clean_up(uid, gid, rounds=100):
    """Kill every process a case left: all of the worker user's (when it has its own user), and
    every child of this process, which as a subreaper inherits the case's orphans. Reaps them all.
    Returns how many there were at first."""
    found = None
    for _ in range(rounds):
        of_user, children = processes(uid)
        found = len(set(of_user) | set(children)) if found is None else found
        if not of_user and not children:
            return found
        if of_user:
            kill_all_processes_of(uid, gid)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
    return found


# ----------------------------------------------------------------------------- start-up probe and per-child application


def _try_in_child(action):
    """Run `action()` in a throwaway child; True if it returned True without raising."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if action() else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def probe_protections(settings, readable_paths):
    """What this machine allows, tried once in throwaway children. `settings` comes from the parent."""
    is_root = os.geteuid() == 0
    uid, gid = settings.get("uid"), settings.get("gid")
    visible = [*SYSTEM_PATHS, *readable_paths]

    def namespaces():
        unshare(CLONE_NEWNS | CLONE_NEWNET)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        enter_minimal_root(settings["new_root"], visible, [os.devnull])
        return True

    def readable_as_worker(in_minimal_root):
        def check():
            if in_minimal_root:
                namespaces()
            become(uid, gid)
            return all(os.listdir(path) is not None for path in readable_paths)
        return check

    def seccomp():
        deny_inet_sockets()
        return network_is_blocked()

    found = {"root": is_root, "namespaces": False, "other_user": False, "seccomp": _try_in_child(seccomp)}
    if is_root and uid is not None:
        found["namespaces"] = _try_in_child(namespaces) and _try_in_child(readable_as_worker(True))
        found["other_user"] = found["namespaces"] or _try_in_child(readable_as_worker(False))
    return found


def confine_child(protections, settings, readable_paths, scratch, submission):
    """Apply, in a freshly forked child, every protection the probe found; called before student code."""
    if protections.get("namespaces"):
        unshare(CLONE_NEWNS | CLONE_NEWNET)  # mounts made here are seen nowhere else; no interface but a downed loopback
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        enter_minimal_root(settings["new_root"], [*SYSTEM_PATHS, *readable_paths, submission], [scratch, os.devnull])
    if protections.get("other_user"):
        become(settings["uid"], settings["gid"])
    if protections.get("seccomp") and not protections.get("namespaces"):
        deny_inet_sockets()

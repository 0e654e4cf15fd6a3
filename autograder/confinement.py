"""Operating-system confinement of a worker child: namespaces, a minimal root, another user, a system-call filter.

Only the standard library and ctypes: the worker loads this file by path, before any student
code exists. Every step is probed once at start-up (probe_protections), and a child applies
only what the probe found to work (confine_child); docs/SECURITY.md says what each one buys.
As root it fails closed: a child that cannot become another user raises RefusedToRunAsRoot
before any student code. After every child, clean_up kills what it left running and removes
what its user left in the shared temporary folders.
"""

import ctypes
import errno
import os
import platform
import signal
import socket
import stat
import struct
from pathlib import Path

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_CHILD_SUBREAPER, SECCOMP_MODE_FILTER = 38, 22, 36, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(
    source: str | Path | None, target: str | Path, fstype: str | None, flags: int, data: str | None = None
) -> None:
    encode = lambda text: None if text is None else str(text).encode()  # noqa: E731
    done = _libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))
    _check(done, f"mount {target}")


def prctl(option: int, value: int) -> None:
    zero = ctypes.c_ulong(0)
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), zero, zero, zero), "prctl")


# ----------------------------------------------------------------------------- the system-call filter

# machine: (its AUDIT_ARCH, the x32 bit or 0, system calls refused: socket, socketpair, io_uring_setup (its rings can
# make sockets), pidfd_getfd (takes another process's descriptor), ptrace, process_vm_readv, process_vm_writev).
SECCOMP_TABLE = {
    "x86_64": (0xC000003E, 0x40000000, (41, 53, 425, 438, 101, 310, 311)),
    "aarch64": (0xC00000B7, 0, (198, 199, 425, 438, 117, 270, 271)),
}


def filter_program(machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The classic-BPF program of deny_sockets_and_foreign_abis, as (code, jt, jf, k) tuples.

    Any call made through another ABI than the machine's own (i386 `int 0x80` or x32 on x86_64,
    32-bit ARM on aarch64) is refused before its number is even looked at, so that a socketcall
    or a socket() numbered for another table never reaches the kernel; then every refused call.
    """
    arch, x32_bit, refused = SECCOMP_TABLE[machine or platform.machine()]
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JSET|K, BPF_RET|K
    deny = SECCOMP_RET_ERRNO | errno.EACCES
    count = len(refused)
    program = [
        (ld, 0, 0, 4),  # the architecture
        (jeq, 1, 0, arch),  # ours: skip the next
        (ret, 0, 0, deny),  # any other ABI
        (ld, 0, 0, 0),  # the system call's number
        (jset, count + 1, 0, x32_bit),  # the x32 ABI: to the final deny
        *[(jeq, count - index, 0, number) for index, number in enumerate(refused)],
        (ret, 0, 0, SECCOMP_RET_ALLOW),
        (ret, 0, 0, deny),
    ]
    return program


def deny_sockets_and_foreign_abis() -> None:
    """Install the seccomp filter: no socket of any family, no other ABI, no reading another process's memory."""
    program = filter_program()
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    done = _libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.c_char_p(fprog), 0, 0)
    _check(done, "seccomp")


def sockets_are_refused() -> bool:
    """True when this process can create no socket: internet, local (abstract included) or a socket pair."""
    for family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, socket.AF_NETLINK):
        try:
            socket.socket(family, socket.SOCK_DGRAM).close()
            return False
        except PermissionError:
            pass
        except OSError as error:
            if error.errno != errno.EACCES:
                return False
    try:
        for end in socket.socketpair():
            end.close()
        return False
    except PermissionError:
        return True


def network_is_blocked() -> bool:
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

SYSTEM_PATHS = ["/usr", "/lib", "/lib64", "/bin"]  # shared libraries; /proc comes fresh or bound (enter_minimal_root)
PRIVATE_TEMP_FOLDERS = ["/tmp", "/var/tmp", "/dev/shm"]  # each child gets its own, empty and small
PRIVATE_TEMP_SIZE = "16m"
# A fresh /proc showing only the child's own processes, best first: without /proc/sys, /proc/net... (Linux 5.8),
# then the older spelling. The probe keeps the first the kernel takes.
PRIVATE_PROC_OPTIONS = ["hidepid=invisible,subset=pid", "hidepid=2"]


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


def enter_minimal_root(
    new_root: str, read_only_paths: list[str], writable_paths: list[str], proc_options: str | None = None
) -> None:
    """chroot into an empty tmpfs holding only the given paths, each at its usual place.

    Nothing else of the machine exists there: no project checkout (wherever it lies, however
    many copies), no /etc, no /home, no other case's folder. Python's standard library and
    installed packages are bound read-only, so imports work as usual. /tmp, /var/tmp and
    /dev/shm are tmpfs of this mount namespace alone (they vanish with the child), and /proc is
    a fresh one mounted with `proc_options` (one of PRIVATE_PROC_OPTIONS: only the child's own
    processes), or, when they are None, the machine's /proc bound.
    """
    mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for path in PRIVATE_TEMP_FOLDERS:  # first: the case's own folders (in the machine's /tmp) are bound inside them
        Path(new_root + path).mkdir(parents=True, exist_ok=True)
        mount("tmpfs", new_root + path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={PRIVATE_TEMP_SIZE}")
    for path in read_only_paths:
        if os.path.exists(path):
            _bind(path, new_root, read_only=True)
    for path in writable_paths:
        _bind(path, new_root, read_only=False)
    Path(new_root + "/proc").mkdir()
    if proc_options:
        mount("proc", new_root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, proc_options)
    else:
        _bind("/proc", new_root, read_only=False)
    os.chroot(new_root)
    os.chdir("/")


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Have the kernel kill this process (SIGKILL) when the thread that started it ends: a warm worker whose grading
    process was killed runs no case on (its cases' user may then be given to another grader, and hidden folders
    reopened), and a batch's child whose worker ended (stopped, or as an ordinary user, whose processes nobody else
    may kill) runs nothing on. Forked children do not inherit it, and a change of user clears it. Elsewhere than on
    Linux, nothing (no worker user there)."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (AttributeError, OSError):
        pass


def cover_paths(paths: list[str]) -> bool:
    """Enter a mount namespace of this process's own and lay an empty read-only tmpfs over every folder of `paths`
    (/dev/null over every file): here and in every child, nothing is there; elsewhere nothing changed. True when
    all were covered; False (nothing to rely on) when any step failed."""
    try:
        unshare(CLONE_NEWNS)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        for path in paths:
            if os.path.isdir(path) and not os.path.islink(path):
                mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0000,size=4k")
            else:
                mount(os.devnull, path, None, MS_BIND)
                mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        return True
    except OSError:
        return False


# ------------------------------------------------------------------ what a worker user leaves in shared folders

SHARED_TEMP_FOLDERS = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]  # writable by everyone on a usual machine
_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def remove_files_of(uid: int, folders: list[str] = SHARED_TEMP_FOLDERS, depth: int = 3) -> int:
    """Remove everything `uid` owns in the shared temporary folders (and in folders there anyone may write,
    `depth` levels down); returns how many entries went. Never follows a link: every step opens the
    next folder relative to the last one's descriptor, with O_NOFOLLOW. Call it once no process of
    `uid` is left, so that nothing moves underneath."""
    removed = 0
    for folder in folders:
        try:
            fd = os.open(folder, _OPEN_FOLDER)
        except OSError:
            continue
        try:
            removed += _remove_owned(fd, uid, depth)
        finally:
            os.close(fd)
    return removed


def _remove_owned(folder_fd, uid, depth):
    removed = 0
    for name in os.listdir(folder_fd):
        try:
            info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
            if info.st_uid == uid:
                _remove_tree(folder_fd, name, info)
                removed += 1
            elif depth > 0 and stat.S_ISDIR(info.st_mode) and info.st_mode & 0o002:
                inner = os.open(name, _OPEN_FOLDER, dir_fd=folder_fd)
                try:
                    removed += _remove_owned(inner, uid, depth - 1)
                finally:
                    os.close(inner)
        except FileNotFoundError:
            continue
    return removed


def _remove_tree(folder_fd, name, info):
    """Remove `name` (relative to `folder_fd`) and, if it is a folder, all it holds, never following a link."""
    if stat.S_ISDIR(info.st_mode):
        inner = os.open(name, _OPEN_FOLDER, dir_fd=folder_fd)
        try:
            for entry in os.listdir(inner):
                _remove_tree(inner, entry, os.stat(entry, dir_fd=inner, follow_symlinks=False))
        finally:
            os.close(inner)
        os.rmdir(name, dir_fd=folder_fd)
    else:
        os.unlink(name, dir_fd=folder_fd)


# ----------------------------------------------------------------------------- users and processes


def become(uid: int, gid: int) -> None:
    """Drop every privilege: no supplementary groups, then the worker's group and user."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def kill_all_processes_of(uid: int, gid: int, rounds: int = 1000) -> None:
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


def read_proc_file(path: str) -> bytes:
    """A /proc file's bytes (os-level: this runs after every case)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def own_children() -> list[int]:
    """The children of this process (of every one of its threads), from /proc/self/task/*/children."""
    found = []
    for task in os.listdir("/proc/self/task"):
        try:
            found += [int(pid) for pid in read_proc_file(f"/proc/self/task/{task}/children").split()]
        except OSError:
            continue
    return found


def processes(uid: int | None) -> tuple[list[int], list[int]]:
    """(processes of `uid`, children of this process), read from /proc; without a uid, only the children's
    files are read, not every process's."""
    if uid is None:
        return [], own_children()
    me, of_user, children = str(os.getpid()).encode(), [], []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            owner = os.stat(f"/proc/{entry}").st_uid
            parent = read_proc_file(f"/proc/{entry}/stat").rsplit(b")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if owner == uid:
            of_user.append(int(entry))
        if parent == me:
            children.append(int(entry))
    return of_user, children


def clean_up(uid: int | None, gid: int | None, rounds: int = 100) -> int | None:
    """Kill every process a case left: all of the worker user's (when it has its own user), and
    every child of this process, which as a subreaper inherits the case's orphans. Reaps them all,
    then removes what the worker user left in the shared temporary folders (remove_files_of), so
    that no later child finds it. Returns how many processes there were at first."""
    found = None
    for _ in range(rounds):
        of_user, children = processes(uid)
        found = len(set(of_user) | set(children)) if found is None else found
        if not of_user and not children:
            if uid is not None and uid != 0:
                remove_files_of(uid)
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


class RefusedToRunAsRoot(Exception):
    """The grader is root and student code could not be given another user: no student code runs at all."""


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


def first_closed_folder(path: str, uid: int, gid: int) -> str | None:
    """The first folder on the way to `path` that `uid`/`gid` may not enter (mode bits alone), or None."""
    current = Path(path)
    for folder in [*reversed(current.parents), current]:
        try:
            info = os.stat(folder)
        except OSError:
            return str(folder)
        bit = 0o100 if info.st_uid == uid else 0o010 if info.st_gid == gid else 0o001
        if not info.st_mode & bit:
            return str(folder)
    return None


def why_root_only(settings: dict, readable_paths: list[str], namespaces_tried: bool) -> str:
    """A sentence for course staff: why student code cannot run as another user here, and what would fix it."""
    uid, gid = settings.get("uid"), settings.get("gid")
    if uid is None:
        return "no worker identity could be claimed (every worker id is taken)"
    closed = sorted({folder for path in readable_paths if (folder := first_closed_folder(path, uid, gid))})
    namespaces = (
        "namespaces are turned off (HW9_NAMESPACES=0)"
        if not namespaces_tried
        else "namespaces are not available (no CAP_SYS_ADMIN or no user namespaces)"
    )
    if closed:
        return (
            f"{namespaces}, and the worker user cannot read Python or its packages: {', '.join(closed)} "
            f"may not be entered by uid {uid}. Fix: run the grader with a Python that lives in a folder every user "
            "may read (the system python3, as setup.sh installs on Gradescope, or a virtual environment made "
            "from it: /usr/bin/python3 -m venv), not one under a private home such as /root"
        )
    return f"{namespaces}, and the worker user could not import from {', '.join(readable_paths)}"


def probe_protections(settings: dict, readable_paths: list[str]) -> dict:
    """What this machine allows, tried once in throwaway children. `settings` comes from the parent.

    As root, student code must run as another user or not at all: when neither namespaces nor
    the plain permissions let the worker user read Python, `root_only` says so (with the reason
    in `refusal`) and confine_child refuses every child before any student code.
    """
    is_root = os.geteuid() == 0
    uid, gid = settings.get("uid"), settings.get("gid")
    allowed = settings.get("namespaces", True)
    visible = [*SYSTEM_PATHS, *readable_paths]

    def namespaces(proc_options):
        def enter():
            unshare(CLONE_NEWNS | CLONE_NEWNET)
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            enter_minimal_root(settings["new_root"], visible, [os.devnull], proc_options)
            return True

        return enter

    def readable_as_worker(enter=None):
        def check():
            if enter:
                enter()
            become(uid, gid)
            return all(os.listdir(path) is not None for path in readable_paths)

        return check

    def seccomp():
        deny_sockets_and_foreign_abis()
        return sockets_are_refused() and network_is_blocked()

    found = {
        "root": is_root,
        "namespaces": False,
        "private_proc": False,
        "other_user": False,
        "seccomp": _try_in_child(seccomp),
        "namespaces_allowed": allowed,
    }
    if is_root and uid is not None:
        if allowed:
            taken = (options for options in PRIVATE_PROC_OPTIONS if _try_in_child(namespaces(options)))
            found["private_proc"] = next(taken, False)  # the options of a fresh /proc the kernel took, or False
            enter = namespaces(found["private_proc"] or None)
            found["namespaces"] = _try_in_child(enter) and _try_in_child(readable_as_worker(enter))
        found["other_user"] = found["namespaces"] or _try_in_child(readable_as_worker())
    if not found["namespaces"]:
        found["private_proc"] = False
    if is_root and not found["other_user"]:
        found["root_only"] = True
        found["refusal"] = why_root_only(settings, readable_paths, allowed)
    return found


def confine_child(protections: dict, settings: dict, readable_paths: list[str], scratch: str, submission: str) -> None:
    """Apply, in a freshly forked child, every protection the probe found; called before student code.

    Raises RefusedToRunAsRoot, before anything else, when the grader is root and the child could
    not become another user: student code never runs as root.
    """
    if protections.get("root_only") or (os.geteuid() == 0 and not protections.get("other_user")):
        raise RefusedToRunAsRoot(
            "student code would run as root, so it does not run: "
            + protections.get("refusal", "the worker user is not available")
        )
    if protections.get("namespaces"):
        unshare(CLONE_NEWNS | CLONE_NEWNET)  # its mounts are seen nowhere else; no interface but a downed loopback
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        enter_minimal_root(
            settings["new_root"],
            [*SYSTEM_PATHS, *readable_paths, submission],
            [scratch, os.devnull],
            protections.get("private_proc") or None,
        )
    if protections.get("other_user"):
        become(settings["uid"], settings["gid"])
    if protections.get("seccomp"):
        deny_sockets_and_foreign_abis()
    if os.geteuid() == 0:  # an invariant: the checks above leave no way here for root
        raise RefusedToRunAsRoot("student code would run as root")

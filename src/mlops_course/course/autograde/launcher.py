"""The trusted launcher: builds the sandbox around one grading worker, then runs it.

Run by the grader as ``python -I -S launcher.py CONFIG_JSON`` (standard library only,
nothing from the course package, so it starts in milliseconds). Depending on
``config["mode"]`` it applies these layers, strongest first (see
:mod:`mlops_course.course.autograde.sandbox` for how the mode is chosen):

``namespaces`` (root)
    cgroup (memory + process count for the whole submission), new network, mount,
    PID, IPC and UTS namespaces, a minimal read-only root (system folders, the
    Python installation, the course package and its data) with private ``/tmp``
    and ``/dev/shm``, loopback only; then a separate unprivileged uid and the
    resource limits, and finally the worker.
``userns`` (not root, unprivileged user namespaces allowed)
    the same namespaces and root, inside a user namespace that maps only the
    caller's uid; no second uid and no cgroup.
``uid`` (root without namespaces)
    cgroup, separate uid and resource limits; the file system and network are
    those of the host.
``limits``
    resource limits and a process group only.

Exit status: the worker's, ``128 + N`` when it was killed by signal N, and 125
when the sandbox itself could not be built (the reason is on stderr).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND = 1, 2, 4, 32, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2
SETUP_FAILED = 125

# The syscall filter, in the spirit of Docker's default seccomp profile: what student
# code never needs and what could escape the sandbox or outlive the job. x86-64 numbers.
AUDIT_ARCH_X86_64 = 0xC000003E
SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW = 317, 1, 4
X32_SYSCALL_BIT = 0x40000000
DENIED_SYSCALLS = {
    "ptrace": 101, "syslog": 103, "vhangup": 153, "pivot_root": 155,
    "adjtimex": 159, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "iopl": 172, "ioperm": 173,
    "init_module": 175, "delete_module": 176, "quotactl": 179, "lookup_dcookie": 212,
    "clock_settime": 227, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "unshare": 272, "perf_event_open": 298, "fanotify_init": 300,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_getfd": 438,
    "mount_setattr": 442, "memfd_secret": 447,
    # POSIX message queues live in the IPC namespace and cannot be listed without a mount:
    # a warm sandbox could not remove them between two submissions
    "mq_open": 240,
    # page-cache probes and eviction: the tools of a cache timing channel between jobs
    "mincore": 27, "fadvise64": 221, "cachestat": 451,
}
CLONE = 56
CLONE3 = 435  # answered ENOSYS, so that the C library falls back to clone (checked below)
CLONE_NAMESPACE_FLAGS = 0x7E020080  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The sandbox could not be built."""


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(code)} (errno {errno.errorcode.get(code, code)})")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
           f"mount {source or fstype} on {target}")


def _bind(source: str, target: str, *, read_only: bool = True, device: bool = False) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()  # noqa: SIM115 - a mount point, closed at once
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (MS_RDONLY if read_only else 0)
    _mount(None, target, None, flags | (0 if device else MS_NODEV))


def _loopback_up() -> None:
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = fcntl.ioctl(sock, siocgifflags, struct.pack("16sH14x", b"lo", 0))
        flags = struct.unpack("16sH14x", ifreq)[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def _join_cgroups(procs_files: list[str]) -> None:
    for path in procs_files:
        with open(path, "w") as handle:
            handle.write("0")


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_program() -> list[tuple[int, int, int, int]]:
    """The classic-BPF filter as (code, jt, jf, k): deny the syscalls above with EPERM,
    clone with a namespace flag too, clone3 with ENOSYS, foreign ABIs; allow the rest."""
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, deny, nosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    # (code, true target, false target, k): targets are labels or None (next instruction)
    prog: list[tuple[int, object, object, int]] = [
        (ld, None, None, 4), (jeq, None, "deny", AUDIT_ARCH_X86_64),
        (ld, None, None, 0), (jge, "deny", None, X32_SYSCALL_BIT)]
    prog += [(jeq, "deny", None, nr) for nr in sorted(
        n for n in DENIED_SYSCALLS.values() if n is not None)]
    prog += [(jeq, "nosys", None, CLONE3), (jeq, None, "allow", CLONE),
             (ld, None, None, 16), (jset, "deny", "allow", CLONE_NAMESPACE_FLAGS)]
    labels = {"allow": len(prog), "deny": len(prog) + 1, "nosys": len(prog) + 2}
    prog += [(ret, None, None, allow), (ret, None, None, deny), (ret, None, None, nosys)]

    def offset(i: int, target: object) -> int:
        return 0 if target is None else labels[target] - i - 1  # type: ignore[index]

    return [(code, offset(i, jt), offset(i, jf), k) for i, (code, jt, jf, k) in enumerate(prog)]


def _install_seccomp() -> str:
    """Install the filter (NO_NEW_PRIVS must be set); return what is in force."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        return f"none (no filter for {platform.machine()})"
    program = seccomp_program()
    filters = (_SockFilter * len(program))(*[_SockFilter(*ins) for ins in program])
    fprog = _SockFprog(len(program), filters)
    # seccomp(2) with SPEC_ALLOW, as Docker does: a filter alone must not switch on the
    # kernel's speculative-store-bypass mitigation, which slows all code down
    if _libc.syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                     ctypes.byref(fprog)) == 0:
        return "on"
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0),
           "prctl(SECCOMP)")
    return "on"


def _build_root(cfg: dict) -> None:
    """Mount the minimal root at cfg['root'] (inside the new mount namespace)."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = cfg["root"]
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for link, target in cfg["symlinks"]:
        os.makedirs(os.path.dirname(root + link), exist_ok=True)
        os.symlink(target, root + link)
    # scratch space first, so that a checkout or venv that lives under /tmp (a CI clone,
    # say) is bound on top of it and stays visible, read-only
    scratch = f"size={cfg['disk_mb']}m,nr_inodes=20000,mode=1777"
    for path in ("/tmp", "/dev/shm"):
        os.makedirs(root + path, exist_ok=True)
        _mount("tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV, scratch)
    for path in cfg["binds"]:
        _bind(path, root + path)
    os.makedirs(root + "/dev", exist_ok=True)
    for name in ("null", "zero", "full", "random", "urandom"):
        _bind("/dev/" + name, f"{root}/dev/{name}", read_only=False, device=True)
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{link}")
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV)
    work = root + cfg["cwd"]
    os.makedirs(work, mode=0o700, exist_ok=True)
    os.chown(work, cfg["uid"], cfg["gid"])
    # nothing outside /tmp and /dev/shm is writable: make the skeleton itself read-only
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,mode=755")


def _exec_worker(cfg: dict) -> None:
    """Become the worker: drop privileges, apply limits, exec. Never returns."""
    if cfg["mode"] in ("namespaces", "userns"):
        os.chroot(cfg["root"])
    os.chdir(cfg["cwd"])
    if cfg["mode"] in ("namespaces", "userns"):
        os.setsid()
    os.umask(0o077)
    for name, value in cfg["rlimits"].items():
        try:
            resource.setrlimit(getattr(resource, "RLIMIT_" + name), tuple(value))
        except (AttributeError, ValueError, OSError) as exc:
            if cfg["mode"] != "limits":  # the last resort applies what this OS allows
                raise SetupError(f"setrlimit({name}): {exc}") from exc
            print(f"sandbox: RLIMIT_{name} not applied: {exc}", file=sys.stderr, flush=True)
    if cfg["mode"] in ("namespaces", "uid"):
        os.setgroups([])
        os.setresgid(cfg["gid"], cfg["gid"], cfg["gid"])
        os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SetupError("still root after dropping privileges")
    if sys.platform.startswith("linux"):
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        if cfg.get("seccomp", True):
            _install_seccomp()
    for fd in cfg["fds"]:
        os.set_inheritable(fd, True)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])


def _status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def _init(cfg: dict) -> int:
    """PID 1 of the new namespace: build the root, run the worker, reap, relay its status."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    _build_root(cfg)
    if cfg["loopback"]:
        _loopback_up()
    worker = os.fork()
    if worker == 0:
        _run_child(_exec_worker, cfg)
    while True:  # reap every orphan; the worker's end ends the namespace
        pid, wait_status = os.wait()
        if pid == worker:
            return _status(wait_status)


def _run_child(func, cfg: dict) -> None:  # noqa: ANN001
    try:
        func(cfg)
    except BaseException as exc:  # noqa: BLE001
        print(f"sandbox setup failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    os._exit(SETUP_FAILED)


def main(cfg: dict) -> int:
    """Build the sandbox that ``cfg`` describes and run the worker in it."""
    mode = cfg["mode"]
    if cfg.get("cgroup_procs"):
        _join_cgroups(cfg["cgroup_procs"])
    if mode not in ("namespaces", "userns"):
        _exec_worker(cfg)  # the worker replaces this process: same pid, same process group
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if mode == "userns":
        uid, gid = os.getuid(), os.getgid()
        _check(_libc.unshare(flags | CLONE_NEWUSER), "unshare")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        cfg = {**cfg, "uid": uid, "gid": gid}
    else:
        _check(_libc.unshare(flags), "unshare")
    init = os.fork()
    if init == 0:
        try:
            os._exit(_init(cfg))
        except BaseException as exc:  # noqa: BLE001
            print(f"sandbox setup failed: {type(exc).__name__}: {exc}", file=sys.stderr,
                  flush=True)
            os._exit(SETUP_FAILED)
    _, wait_status = os.waitpid(init, 0)
    return _status(wait_status)


if __name__ == "__main__":
    try:
        sys.exit(main(json.loads(sys.argv[1])))
    except SetupError as exc:
        print(f"sandbox setup failed: {exc}", file=sys.stderr, flush=True)
        sys.exit(SETUP_FAILED)
    except OSError as exc:
        print(f"sandbox setup failed: {exc}", file=sys.stderr, flush=True)
        sys.exit(SETUP_FAILED)

"""Write the grading corpus: honest and hostile submissions of exercise 01.

    .venv/bin/python tests/grading/make_corpus.py  # rewrites submissions/01_traditional_workflow

Each submission starts from the released student notebook (``exercises/01_…``) and
replaces answer cells; the comment above each entry says what the grader must make of
it (``expected/01_traditional_workflow/grades.csv`` holds the exact gradebook, checked
by ``test_corpus.py``). Exercise 01 has 8 points: rmse_usd 2 (1 + 0.5 + hidden 0.25 +
0.25), fingerprint 2 (1 + hidden 1), prepare_request 4 (1 + 1 + hidden 1 + 0.5 + 0.5).

Submissions too big or too odd to commit (a 21 MB notebook, a 300 kB answer cell, a
symbolic link to the solution file) are added at test time by ``test_corpus.py``.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import jupytext
import nbformat

from mlops_course.course.exercises import load_exercise, student_notebook

EXERCISE = "01_traditional_workflow"
HERE = Path(__file__).resolve().parent
OUT = HERE / "submissions" / EXERCISE

RMSE = '''import math


def rmse_usd(y_true, y_pred) -> float:
    """Root mean squared error of predicted prices, in dollars."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"lengths differ: {len(y_true)} != {len(y_pred)}")
    if len(y_true) == 0:
        raise ValueError("need at least one value")
    squared = [(float(t) - float(p)) ** 2 for t, p in zip(y_true, y_pred)]
    return math.sqrt(sum(squared) / len(squared))
'''

RMSE_NO_EMPTY_CHECK = '''import math


def rmse_usd(y_true, y_pred) -> float:
    if len(y_true) != len(y_pred):
        raise ValueError("lengths differ")
    squared = [(float(t) - float(p)) ** 2 for t, p in zip(y_true, y_pred)]
    return math.sqrt(sum(squared) / len(squared))
'''

FINGERPRINT = '''import hashlib


def fingerprint(path) -> str:
    """sha256 hex digest of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(65536)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()
'''

PREPARE = '''def prepare_request(payload, medians, columns) -> pd.DataFrame:
    """One raw request -> one row of training features."""
    prefix = "ocean_proximity_"
    known = [c[len(prefix):] for c in columns if c.startswith(prefix)]
    category = payload.get("ocean_proximity")
    if category not in known:
        raise ValueError(f"ocean_proximity {category!r} is not one of {known}")
    values = []
    for column in columns:
        if column.startswith(prefix):
            values.append(1.0 if column == prefix + str(category) else 0.0)
        else:
            raw = payload.get(column)
            values.append(float(medians[column]) if raw is None else float(raw))
    return pd.DataFrame([values], columns=columns, dtype=float)
'''

PREPARE_NO_UNKNOWN_CHECK = PREPARE.replace(
    '''    if category not in known:
        raise ValueError(f"ocean_proximity {category!r} is not one of {known}")
''', "")

PREPARE_FILLS_ZERO = PREPARE.replace(
    "float(medians[column]) if raw is None else float(raw)",
    "0.0 if raw is None else float(raw)")

FULL = {"rmse_usd": RMSE, "fingerprint": FINGERPRINT, "prepare_request": PREPARE}


def notebook(answers: dict[str, str] | None = None) -> Any:
    """The released student notebook with some answer cells replaced."""
    nb = student_notebook(load_exercise(EXERCISE))
    for cell in nb.cells:
        grade_id = cell.metadata.get("grade_id")
        if answers and grade_id in answers and "solution" in cell.metadata.get("tags", []):
            cell.source = answers[grade_id]
    return nb


def write(name: str, nb: Any) -> None:
    path = OUT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    for number, cell in enumerate(nb.cells):  # copied cells: unique, stable ids
        if cell.get("id") in seen:
            cell["id"] = f"copy-{number:03d}"
        seen.add(cell.get("id"))
    if name.endswith(".py"):
        path.write_text(jupytext.writes(nb, fmt="py:percent"), encoding="utf-8")
    else:
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def honest() -> None:
    # 8/8: every part right, in the student's own words
    write("alice.ipynb", notebook(FULL))
    # 7.25/8, as a .py file: no empty-input check (hidden rmse_empty -0.25), unknown
    # category accepted (hidden unknown_category -0.5)
    write("bob.py", notebook({"rmse_usd": RMSE_NO_EMPTY_CHECK, "fingerprint": FINGERPRINT,
                              "prepare_request": PREPARE_NO_UNKNOWN_CHECK}))
    # 2/8: only part 1 done
    write("carol.ipynb", notebook({"rmse_usd": RMSE}))
    # 0/8: the notebook as released
    write("dave.ipynb", notebook())
    # 6/8: tests edited to pass, deleted, reordered, answers reordered; graded as the
    # template says: prepare_request fills 0 instead of the median (-1, hidden -1)
    nb = notebook({**FULL, "prepare_request": PREPARE_FILLS_ZERO})
    tests = [c for c in nb.cells if "test" in c.metadata.get("tags", [])]
    for cell in tests:
        cell.source = "def verify(observed):\n    pass\n\n\nassert True  # all green!"
    answers = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    others = [c for c in nb.cells if c not in tests and c not in answers]
    nb.cells = (others[:2] + list(reversed(answers)) + tests[::2] + others[2:]
                + [copy.deepcopy(c) for c in tests[::2]])
    write("erin.ipynb", nb)
    # 8/8, review: a tool dropped the grade_id metadata but kept the tags -> by order
    nb = notebook(FULL)
    for cell in nb.cells:
        cell.metadata.pop("grade_id", None)
    write("frank.ipynb", nb)
    # 0/8, review: every bit of metadata gone: nothing can be matched
    nb = notebook(FULL)
    for cell in nb.cells:
        cell.metadata = {}
    write("grace.ipynb", nb)
    # 8/8: a folder holding one notebook; the student id is the folder's name
    write("heidi/exercise.ipynb", notebook(FULL))
    # 6.25/8, review: the rmse answer cell duplicated; the first (mean absolute error)
    # counts (it equals RMSE on the hidden one-value case)
    nb = notebook(FULL)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("grade_id") == "rmse_usd")
    first = copy.deepcopy(nb.cells[index])
    first.source = ("import numpy as np\n\n\ndef rmse_usd(y_true, y_pred) -> float:\n"
                    "    return float(np.mean(np.abs(np.subtract(y_true, y_pred))))\n")
    nb.cells.insert(index, first)
    write("ivan.ipynb", nb)
    # 6.5/8: an object that equals everything cannot pass (probes must return plain
    # data); only the length check, which needs no return value, scores
    write("judy.py", notebook({**FULL, "rmse_usd": (
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n"
        "    def __float__(self):\n        return 0.0\n\n\n"
        "def rmse_usd(y_true, y_pred):\n    if len(y_true) != len(y_pred):\n"
        "        raise ValueError('lengths differ')\n    return Anything()\n")}))
    # 7.5/8: rmse hard-codes the public test's answer; the hidden test catches it
    write("ken.ipynb", notebook({**FULL, "rmse_usd": (
        "def rmse_usd(y_true, y_pred) -> float:\n    if len(y_true) != len(y_pred):\n"
        "        raise ValueError('lengths differ')\n    return 8164.96580927726\n")}))
    # 4/8, review: the prepare_request answer cell deleted (and its tests)
    nb = notebook(FULL)
    nb.cells = [c for c in nb.cells if "prepare_request" not in c.metadata.get("grade_id", "")]
    write("leo.ipynb", nb)
    # 6/8: a syntax error in one answer cell costs that part only
    write("mallory_syntax.py", notebook({**FULL, "rmse_usd": (
        "def rmse_usd(y_true, y_pred) -> float\n    return 0.0\n")}))


def hostile() -> None:
    # 6/8, timeout: rmse_usd never returns and swallows the alarm -> killed per test
    write("h_loop_forever.py", notebook({**FULL, "rmse_usd": (
        "def rmse_usd(y_true, y_pred) -> float:\n    while True:\n        try:\n"
        "            while True:\n                pass\n        except BaseException:\n"
        "            pass\n")}))
    # 6/8, timeout: an endless loop at the top of an answer cell
    write("h_loop_cell.ipynb", notebook({**FULL, "fingerprint": "while True:\n    pass\n\n"
                                         + FINGERPRINT}))
    # 4/8, out of memory: prepare_request allocates without bound
    write("h_memory.py", notebook({**FULL, "prepare_request": (
        "def prepare_request(payload, medians, columns):\n    hog = []\n    while True:\n"
        "        hog.append(bytearray(50_000_000))\n")}))
    # 6/8, out of memory: one huge allocation when the cell runs
    write("h_memory_cell.ipynb", notebook({**FULL, "rmse_usd": "blob = b'x' * (1 << 40)\n\n"
                                           + RMSE}))
    # 6/8, timeout: a fork bomb whose children never die -> the whole tree is killed
    write("h_fork_bomb.py", notebook({**FULL, "rmse_usd": (
        "import os\n\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
        "        pass\n\n" + RMSE)}))
    # 6/8: prints without end -> stopped at the file size limit
    write("h_print_flood.ipynb", notebook({**FULL, "fingerprint": (
        "while True:\n    print('spam ' * 200_000)\n\n" + FINGERPRINT)}))
    # 6/8: sys.exit in an answer cell
    write("h_sys_exit.py", notebook({**FULL, "fingerprint": "import sys\n\nsys.exit('bye')\n\n"
                                     + FINGERPRINT}))
    # 4/8, crashed: os._exit in prepare_request -> each of its tests crashes, others pass
    write("h_os_exit.ipynb", notebook({**FULL, "prepare_request": (
        "import os\n\n\ndef prepare_request(payload, medians, columns):\n    os._exit(0)\n")}))
    # 6/8, crashed: the answer cell kills its own process
    write("h_kill_self.py", notebook({**FULL, "rmse_usd": (
        "import os\nimport signal\n\nos.kill(os.getpid(), signal.SIGKILL)\n\n" + RMSE)}))
    # 6/8, crashed: kill every process it may, then its own process group
    write("h_kill_all.py", notebook({**FULL, "fingerprint": (
        "import os\nimport signal\n\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n"
        "    pass\nos.killpg(0, signal.SIGKILL)\n\n" + FINGERPRINT)}))
    # 0/8: tries to read the solution file (it would get 8/8), .git and /etc/shadow
    write("h_read_secrets.py", notebook({
        "rmse_usd": (
            "import glob\n\nfrom mlops_course import config\n\nstolen = {}\n"
            "paths = [config.solutions_dir() / '01_traditional_workflow.py', '/etc/shadow',\n"
            "         *glob.glob(str(config.project_root() / '.git' / '*'))]\n"
            "for path in paths:\n    try:\n        with open(path) as handle:\n"
            "            stolen[str(path)] = handle.read()\n    except OSError:\n"
            "        pass\n"
            "solution = stolen.get(str(config.solutions_dir() / '01_traditional_workflow.py'))\n"
            "if solution:\n    exec(solution)  # every model answer: full marks\n"),
        "fingerprint": "# the stolen solution defines it\n",
        "prepare_request": "# the stolen solution defines it\n"}))
    # 8/8: tries to write into the package, the data cache, /etc, the checkout; the
    # answers are right only if every write failed
    write("h_write_outside.py", notebook({**FULL, "rmse_usd": (
        "import pathlib\n\nimport mlops_course\nfrom mlops_course import config\n\n"
        "ESCAPED = []\nfor target in [pathlib.Path(mlops_course.__file__).parent / '_pwned.py',\n"
        "               config.data_dir() / 'pwned.txt', pathlib.Path('/etc/pwned'),\n"
        "               config.project_root() / 'pwned.txt']:\n    try:\n"
        "        target.write_text('pwned')\n        ESCAPED.append(str(target))\n"
        "    except OSError:\n        pass\n"
        "assert not ESCAPED, f'wrote outside the sandbox: {ESCAPED}'\n\n" + RMSE)}))
    # 8/8: the answers are right only if no network but loopback is visible
    write("h_network.py", notebook({**FULL, "rmse_usd": (
        "import socket\n\nINTERFACES = [name for _, name in socket.if_nameindex()]\n"
        "try:\n    socket.create_connection(('198.51.100.1', 80), timeout=2).close()\n"
        "    REACHED = True\nexcept OSError:\n    REACHED = False\n"
        "assert INTERFACES == ['lo'] and not REACHED, (INTERFACES, REACHED)\n\n" + RMSE)}))
    # 0/8, review: writes forged answers to every file descriptor it can find
    write("h_tamper_pipe.py", notebook({"rmse_usd": (
        "import json\nimport os\n\nfor fd in range(3, 64):\n"
        "    for token in ('0' * 24, 'x'):\n"
        "        forged = {'token': token, 'status': 'ok', 'value': 2 ** 0.5, 'hello': 1}\n"
        "        try:\n            os.write(fd, (json.dumps(forged) + '\\n').encode())\n"
        "        except OSError:\n            pass\n")}))
    # unreadable: not JSON, empty, not UTF-8
    (OUT / "h_not_json.ipynb").write_text('{"cells": [{"cell_type": "code", "sour',
                                          encoding="utf-8")
    (OUT / "h_empty.ipynb").write_bytes(b"")
    (OUT / "h_binary.py").write_bytes(bytes(range(256)) * 4)


def hardened() -> None:
    """Attacks found by a hostile student; each class has a test in test_corpus.py."""
    # 0/8, review (class 1): replaces builtins the probes would use and steers every probe
    # it can see through compile(); probes were compiled before, with their own builtins
    write("x_patch_builtins.py", notebook({"rmse_usd": (
        "import builtins\nimport json\n\nreal_compile = builtins.compile\n\n\n"
        "def steer(source, *args, **kwargs):\n"
        "    if isinstance(source, str) and 'def probe' in source:\n"
        "        source = source.replace('return ', 'return 8164.96580927726 or ')\n"
        "    return real_compile(source, *args, **kwargs)\n\n\n"
        "builtins.compile = steer\nbuiltins.isinstance = lambda obj, kind: True\n"
        "builtins.sorted = lambda items, **kw: ['float64']\n"
        "real_dumps = json.dumps\njson.dumps = lambda obj, **kw: real_dumps(obj, **kw)\n")}))
    # 0/8, review (class 1): finds the worker's own functions through the stack and
    # replaces plain() so that every reply says "raised ValueError"; the worker bound its
    # functions before student code ran, so nothing changes, and the change is reported
    write("x_patch_worker.py", notebook({"rmse_usd": (
        "import sys\n\nframe = sys._getframe()\nwhile frame is not None:\n"
        "    if 'plain' in frame.f_globals and '_run_step' in frame.f_globals:\n"
        "        frame.f_globals['plain'] = lambda value, depth=0: {\n"
        "            'raised': ['ValueError', 'Exception'], 'message': 'forged'}\n"
        "    frame = frame.f_back\n")}))
    # 4/8 (class 3): the last answer scans memory for the hidden probes (code objects,
    # frames) and raises what it finds inside the public tests, whose messages students
    # read; hidden probes reach the sandbox only after every public result, so it finds
    # none; both prepare_request Parts fail
    write("x_leak_hidden.py", notebook({**FULL, "prepare_request": (
        "import gc\n\n\ndef prepare_request(payload, medians, columns):\n"
        "    found = [(o.co_filename, o.co_consts) for o in gc.get_objects()\n"
        "             if type(o).__name__ == 'code' and 'hidden' in o.co_filename]\n"
        "    raise RuntimeError(f'LEAKED {len(found)} hidden probe(s): {found}')\n")}))
    # 8/8 (class 4): every answer is right only if kernel keyrings are refused, and no
    # other job's files, shared memory or IPC objects are visible in /tmp, /dev/shm and
    # /proc/sysvipc; it leaves its own traces for the next job to find
    write("x_persist.py", notebook({**FULL, "rmse_usd": (
        "import ctypes\nimport os\n\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "KEY = libc.syscall(248, b'user', b'mlops-leak', b'secret', 6, -4)  # add_key\n"
        "KEY_ERRNO = ctypes.get_errno()\n"
        "FOUND = libc.syscall(250, 10, -4, b'user', b'mlops-leak', 0)  # keyctl search\n"
        "SHM = libc.shmget(0x4D4C4F50, 4096, 0o1666)  # IPC_CREAT | 0666\n"
        "FOREIGN = [name for folder in ('/tmp', '/dev/shm') for name in os.listdir(folder)\n"
        "           if name.startswith('x_persist') and name != f'x_persist-{os.getpid()}']\n"
        "SYSV = open('/proc/sysvipc/shm').read().splitlines()[1:]\n"
        "for folder in ('/tmp', '/dev/shm'):\n"
        "    with open(f'{folder}/x_persist-{os.getpid()}', 'w') as handle:\n"
        "        handle.write('left for the next student')\n"
        "assert KEY == -1 and KEY_ERRNO == 1 and FOUND == -1, (KEY, KEY_ERRNO, FOUND)\n"
        "assert len(SYSV) <= 1, SYSV  # at most our own segment\n\n" + RMSE)}))
    # 6/8 (class 2 and 6): an answer cell raises a message with a lone surrogate, escape
    # codes and a carriage return that fakes a summary line
    write("x_odd_message.py", notebook({**FULL, "fingerprint": (
        "raise RuntimeError('bad \\udcff byte\\x1b[2J\\x1b[H\\rGraded 1 submission: all ok')\n")}))
    # 7/8 (class 7): during the rmse tests, writes a forged reply for the current step
    # (NaN as the value, a 400-digit number of seconds) before the real one
    write("x_forged_reply.py", notebook({**FULL, "rmse_usd": (
        "import math\nimport os\nimport sys\n\n\ndef rmse_usd(y_true, y_pred):\n"
        "    frame = sys._getframe()\n    while frame is not None:\n"
        "        step = frame.f_locals.get('message')\n"
        "        state = frame.f_globals.get('_State')\n"
        "        if isinstance(step, dict) and 'token' in step and state is not None:\n"
        "            forged = ('{\"token\": \"%s\", \"status\": \"ok\", \"value\": NaN, '\n"
        "                      '\"seconds\": %s}\\n' % (step['token'], '9' * 400))\n"
        "            os.write(state.fds[1], forged.encode())\n            break\n"
        "        frame = frame.f_back\n"
        "    squared = [(a - b) ** 2 for a, b in zip(y_true, y_pred)]\n"
        "    return math.sqrt(sum(squared) / len(y_true))\n")}))
    # 8/8 (an honest detail): an answer cell that makes a folder in the working directory
    # runs again for the hidden tests, in a fresh child whose folder is clean again
    write("x_rerun_mkdir.py", notebook({**FULL, "fingerprint": (
        "import os\n\nos.mkdir('scratch')\n\n" + FINGERPRINT)}))
    # 5.5/8, review (class 1): swaps a builtin in the running probe's own copy of the
    # builtins (found through its caller's frame); the probe's copy is checked after it
    write("x_scoped_builtins.py", notebook({**FULL, "prepare_request": (
        "import sys\n\nimport pandas as pd\n\n\n"
        "def prepare_request(payload, medians, columns):\n"
        "    sys._getframe(1).f_globals['__builtins__']['sorted'] = (\n"
        "        lambda items, **kw: ['float64'])\n"
        "    return pd.DataFrame([{c: payload.get(c) for c in columns}], columns=columns)\n")}))


# what a submission can leave in a warm sandbox (reused for the next submission of the
# same job): files, System V IPC objects, a process that hides, and changes it makes to
# the warm zygote above it (a lower priority, a lower limit, stopped)
WARM_LEAVE = '''import ctypes
import os
import resource
import signal
import time

libc = ctypes.CDLL(None, use_errno=True)
for folder in ('/tmp', '/dev/shm', '.'):
    with open(f'{folder}/x_warm_left', 'w') as handle:
        handle.write('left by an earlier submission')
    os.makedirs(f'{folder}/x_warm_locked/inside', exist_ok=True)  # hard to delete
    os.chmod(f'{folder}/x_warm_locked', 0)
IPC = [libc.shmget(0x57524D31, 4096, 0o1666), libc.semget(0x57524D32, 1, 0o1666),
       libc.msgget(0x57524D33, 0o1666)]


def parent_of(pid):
    with open(f'/proc/{pid}/stat') as handle:
        return int(handle.read().rsplit(')', 1)[1].split()[1])


ABOVE = [parent_of(os.getpid())]
ABOVE.append(parent_of(ABOVE[0]))
for pid in ABOVE:
    for change in (lambda: os.setpriority(os.PRIO_PROCESS, pid, 10),
                   lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (64, 64))):
        try:
            change()
        except OSError:
            pass
if os.fork() == 0:  # a process that hides: its own session, deaf to polite signals
    os.setsid()
    for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)
    time.sleep(3600)
    os._exit(0)
'''

WARM_SEEK = '''import os
import resource


def parent_of(pid):
    with open(f'/proc/{pid}/stat') as handle:
        return int(handle.read().rsplit(')', 1)[1].split()[1])


MINE = {1, os.getpid(), os.getppid(), parent_of(os.getppid())}
LEFT = [f'{folder}/{name}' for folder in ('/tmp', '/dev/shm', '.')
        for name in os.listdir(folder) if name.startswith('x_warm')]
for kind in ('shm', 'sem', 'msg'):
    with open(f'/proc/sysvipc/{kind}') as handle:
        LEFT += [f'{kind} {line.split()[0]}' for line in handle.read().splitlines()[1:]]
LEFT += [f'process {pid}' for pid in os.listdir('/proc') if pid.isdigit()
         and int(pid) not in MINE]
LEFT += [f'nice {os.getpriority(os.PRIO_PROCESS, 0)}'] * (os.getpriority(os.PRIO_PROCESS, 0) != 0)
LEFT += [f'NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)}'] * (
    resource.getrlimit(resource.RLIMIT_NOFILE) != (256, 256))
assert not LEFT, f'left by an earlier submission: {LEFT}'
'''


def warm() -> None:
    """Pairs graded one after the other in one job: the first leaves, the second looks."""
    # 8/8: leaves files, IPC objects, a hiding process, a reniced and limited zygote
    write("x_warm_1_leave.py", notebook({**FULL, "rmse_usd": WARM_LEAVE + "\n\n" + RMSE}))
    # 8/8 only if nothing of any earlier submission is there
    write("x_warm_2_seek.py", notebook({**FULL, "rmse_usd": WARM_SEEK + "\n\n" + RMSE}))


def main() -> int:
    honest()
    hostile()
    hardened()
    warm()
    print(f"wrote {len(list(OUT.iterdir()))} submissions to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

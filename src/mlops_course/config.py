"""Project paths, the FAST switch and seeding.

Nothing happens at import: paths are computed by functions, so that the
environment variables below can be changed by tests and tools at any time.

Environment variables
---------------------
MLOPS_COURSE_HOME        the course checkout (default: found from this file, else the cwd)
MLOPS_COURSE_DATA_DIR    where downloaded data is cached (default: ``<home>/data``)
MLOPS_COURSE_BUILD_DIR   where generated files go (default: ``<home>/build``)
MLOPS_COURSE_FAST / FAST ``1`` runs lessons in fast mode (small data, few estimators)
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path

DEFAULT_SEED = 42
KERNEL_NAME = "mlops-course"
_TRUE = {"1", "true", "yes", "on"}


def project_root() -> Path:
    """Return the course checkout: ``$MLOPS_COURSE_HOME``, the source tree, or the cwd."""
    if env := os.environ.get("MLOPS_COURSE_HOME"):
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file() and (here / "notebooks").is_dir():
        return here
    return Path.cwd().resolve()


def data_dir() -> Path:
    """Return the folder where downloaded data is cached (not created)."""
    env = os.environ.get("MLOPS_COURSE_DATA_DIR")
    return Path(env).resolve() if env else project_root() / "data"


def build_dir() -> Path:
    """Return the folder for everything the course generates (not created)."""
    env = os.environ.get("MLOPS_COURSE_BUILD_DIR")
    return Path(env).resolve() if env else project_root() / "build"


def notebooks_dir() -> Path:
    """Return the folder of the lesson notebooks."""
    return project_root() / "notebooks"


def solutions_dir() -> Path:
    """Return the folder of the exercise solutions (the single source of exercises)."""
    return project_root() / "solutions"


def exercises_dir() -> Path:
    """Return the folder of the generated student notebooks."""
    return project_root() / "exercises"


def fast_default() -> bool:
    """Return the FAST default from the environment (``MLOPS_COURSE_FAST`` or ``FAST``).

    Examples
    --------
    >>> import os
    >>> os.environ["MLOPS_COURSE_FAST"] = "1"
    >>> fast_default()
    True
    >>> del os.environ["MLOPS_COURSE_FAST"]
    """
    value = os.environ.get("MLOPS_COURSE_FAST", os.environ.get("FAST", ""))
    return value.strip().lower() in _TRUE


def work_dir(name: str, *, clean: bool = True) -> Path:
    """Return ``build/work/<name>``, a scratch folder for one lesson, emptied first.

    Lessons write every file they make here (or in a temporary folder), never
    elsewhere in the checkout.
    """
    path = build_dir() / "work" / name
    if clean and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def set_seed(seed: int = DEFAULT_SEED) -> int:
    """Seed Python's ``random``, NumPy's global generator and PyTorch if it is imported.

    PyTorch is seeded only when the lesson has already imported it (importing it
    here would cost every lesson seconds): import torch first, then call this.
    Returns the seed, so a lesson can write ``SEED = set_seed(SEED)``.
    """
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    return seed

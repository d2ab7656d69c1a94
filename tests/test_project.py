"""Project-level promises: setup files agree, the two commands exist, CI runs the README's."""

from __future__ import annotations

import re
import subprocess
import tomllib

import yaml

from mlops_course import config

ROOT = config.project_root()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    named = {_name(r) for r in pip_section if not r.startswith("-")}
    assert named == wanted, f"only in pyproject: {wanted - named}; only in yml: {named - wanted}"


def test_torch_is_pinned_everywhere() -> None:
    project = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.13.0"' in project
    assert "torch==2.13.0\n" in (ROOT / "constraints.txt").read_text()


def test_constraints_pin_every_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if "==" in line}
    direct = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    assert direct <= pinned, f"not pinned in constraints.txt: {direct - pinned}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lessons" in readme
    code = [line.strip() for line in ci.splitlines() if line.strip() and not
            line.lstrip().startswith("#")]
    assert code[-1] == "make test", "CI must end by running the README's test command"
    assert [line for line in code if "make" in line.split()] == ["make test"], code
    assert "MLOPS_COURSE_DATA_MIRROR" in ci and "../shared/data" in ci


def test_make_help_lists_every_target() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    for target in ("lessons", "test", "lab", "exercises", "clean", "setup", "data", "grade"):
        assert re.search(rf"make {target}\s+\S", out), f"`make help` lacks {target}"


def test_console_entry_point_has_the_subcommands() -> None:
    from mlops_course.cli import build_parser

    help_text = build_parser().format_help()
    for command in ("data", "lessons", "exercises"):
        assert command in help_text


def test_readmes_name_no_path_outside_the_checkout() -> None:
    """Students do not have the instructors' sibling folders (the data mirror is generic)."""
    for readme in (ROOT / "README.md", ROOT / "edition" / "README.md"):
        assert "../shared" not in readme.read_text(), f"{readme.name} names ../shared/"

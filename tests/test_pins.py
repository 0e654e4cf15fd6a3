"""Every runtime pin is exact and has a wheel on PyPI for CPython 3.10 to 3.13 on manylinux x86_64 (asks the index)."""

import functools
import importlib.metadata
import json
import urllib.error
import urllib.request

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tests.helpers import ROOT
from tests.optional_tools import require

# What Gradescope's images and the students' Linux machines install from: the runtime, and the notebook's pins when
# that file exists.
PIN_FILES = [path for path in (ROOT / "requirements.txt", ROOT / "requirements-notebook.txt") if path.exists()]
PYTHONS = [(3, 10), (3, 11), (3, 12), (3, 13)]
# manylinux x86_64 wheels an image with glibc 2.35 (Ubuntu 22.04, Gradescope's default) or newer can take; a bare
# linux_x86_64 wheel is no promise of anything, so it does not count.
MANYLINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(35, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]
SIMPLE_API = "https://pypi.org/simple/{}/"


def pins(path):
    """The requirements of a pip requirements file, skipping comments, blank lines and options such as `-r`."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            found.append(Requirement(line))
    return found


def applies_on_linux(requirement, python):
    """Whether the requirement's environment marker (if any) selects it on CPython `python` on Linux x86_64."""
    if requirement.marker is None:
        return True
    return requirement.marker.evaluate(linux_environment(python))


def linux_environment(python):
    """The environment markers of CPython `python` (major, minor) on Linux x86_64."""
    version = "{}.{}".format(*python)
    return {
        "python_version": version,
        "python_full_version": f"{version}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }


@functools.cache
def pypi_reachable():
    """Whether PyPI's simple API answers (asked once: without a network every test below is skipped at once)."""
    try:
        with urllib.request.urlopen(SIMPLE_API.format("pip"), timeout=30):
            return True
    except (urllib.error.URLError, TimeoutError, OSError):
        return False


@functools.cache
def index_files(name):
    """The files PyPI lists for the project `name` (PEP 691's JSON simple API)."""
    request = urllib.request.Request(
        SIMPLE_API.format(canonicalize_name(name)), headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return tuple(json.load(reply)["files"])
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        pytest.fail(f"could not ask PyPI about {name} ({SIMPLE_API.format(name)}): {error}; this test needs PyPI")


def installable_wheels(requirement, python):
    """Names of the non-yanked wheels of the pinned version that pip would take on CPython `python`, manylinux
    x86_64."""
    pinned = Version(next(iter(requirement.specifier)).version)
    accepted = {*cpython_tags(python, platforms=MANYLINUX), *compatible_tags(python, platforms=MANYLINUX)}
    require(pypi_reachable(), "PyPI cannot be reached (no network?): this test asks its index about every pin")
    wheels = []
    for entry in index_files(requirement.name):
        filename = entry["filename"]
        if not filename.endswith(".whl") or entry.get("yanked"):
            continue
        try:
            _, version, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:  # a few releases of long ago named their wheels as no tool reads them now
            continue
        requires_python = entry.get("requires-python")
        if version != pinned or not tags & accepted:
            continue
        if requires_python and not SpecifierSet(requires_python).contains("{}.{}.0".format(*python)):
            continue
        wheels.append(filename)
    return wheels


def all_pins():
    return [
        pytest.param(path, requirement, id=f"{path.name}:{requirement}")
        for path in PIN_FILES
        for requirement in pins(path)
    ]


def test_the_runtime_pins_are_found():
    # Guards the parametrisation below: a parser that found nothing would make every other test vanish.
    names = {canonicalize_name(requirement.name) for requirement in pins(ROOT / "requirements.txt")}
    assert {"numpy", "torch", "pydantic", "pyyaml", "networkx", "pydantic-core"} <= names


@pytest.mark.parametrize("path, requirement", all_pins())
def test_every_pin_is_exact(path, requirement):
    specifiers = list(requirement.specifier)
    assert len(specifiers) == 1 and specifiers[0].operator == "==" and "*" not in specifiers[0].version, (
        f"{path.name}: {requirement} is not pinned to one exact version (name==X.Y.Z)"
    )


@pytest.mark.parametrize("python", PYTHONS, ids=lambda python: "cp{}{}".format(*python))
@pytest.mark.parametrize("path, requirement", all_pins())
def test_every_pin_has_a_wheel_for_each_python(path, requirement, python):
    if not applies_on_linux(requirement, python):
        pytest.skip(f"{requirement} is not installed on Linux with Python %d.%d" % python)
    assert installable_wheels(requirement, python), (
        f"{path.name}: PyPI has no manylinux x86_64 wheel of {requirement} for CPython %d.%d "
        "(or its Requires-Python excludes that version)" % python
    )


@pytest.mark.parametrize(
    "pin, reason",
    [
        ("numpy==2.4.6", "no CPython 3.10 wheel"),
        ("networkx==3.5", "a pure-Python wheel whose Requires-Python is >=3.11"),
    ],
)
def test_pins_that_miss_python_3_10_are_caught(pin, reason):
    # The check itself can fail: releases known not to install on Python 3.10 find no wheel there.
    requirement = Requirement(pin)
    assert installable_wheels(requirement, (3, 11)) and not installable_wheels(requirement, (3, 10)), reason


def test_the_runtime_pins_hold_every_dependency_of_the_runtime():
    # Read from the installed packages' metadata (setup.sh installed exactly these pins): nothing of the runtime may
    # come in unpinned, on any of the four Pythons, and every pin satisfies what asks for it.
    runtime = {canonicalize_name(requirement.name): requirement for requirement in pins(ROOT / "requirements.txt")}
    problems = []
    for name, requirement in runtime.items():
        pinned = next(iter(requirement.specifier)).version
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{name} is not installed here: run ./setup.sh")
        if Version(installed).public != Version(pinned).public:
            pytest.fail(f"{name} {installed} is installed, requirements.txt pins {pinned}: run ./setup.sh")
        for needed in map(Requirement, importlib.metadata.requires(name) or []):
            for python in PYTHONS:
                if needed.marker is not None and not needed.marker.evaluate({**linux_environment(python), "extra": ""}):
                    continue
                found = runtime.get(canonicalize_name(needed.name))
                if found is None:
                    problems.append(
                        f"{name} needs {needed}, which requirements.txt does not pin (Python %d.%d)" % python
                    )
                elif not needed.specifier.contains(next(iter(found.specifier)).version, prereleases=True):
                    problems.append(f"{name} needs {needed}, but requirements.txt pins {found}")
    assert not problems, "\n".join(sorted(set(problems)))

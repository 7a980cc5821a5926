"""pyproject.toml's dependency groups and the pinned requirements files say the same thing, and
every library the product imports at run time is a runtime dependency (not one that only the
test or benchmark venv happens to have)."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# What runs in the product: the CLI and the Pulumi program (components/, __main__.py) and the
# policy pack (policies/). The scoring server runs in the image, from its own requirements.
RUNTIME_CODE = [REPO / "components", REPO / "policies", REPO / "__main__.py"]
FIRST_PARTY = {"components", "modelstack_server", "policies", "tests", "benchmarks", "examples"}


def read_pins(path: Path) -> tuple[dict[str, str], list[str]]:
    """{canonical name: version} of a requirements file's own `name==version` lines, and the
    files it includes with -r."""
    pins: dict[str, str] = {}
    includes: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            includes.append(line[3:].strip())
            continue
        name, separator, version = line.partition("==")
        assert separator, f"{path.name}: {raw!r} is not pinned with =="
        pins[canonicalize_name(name)] = version.strip()
    return pins, includes


def declared(group: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(requirement.name): requirement for requirement in map(Requirement, group)}


def assert_pins_match(pins: dict[str, str], group: dict[str, Requirement], label: str) -> None:
    assert sorted(pins) == sorted(group), f"{label}: pinned and declared names differ"
    for name, version in pins.items():
        assert group[name].specifier.contains(version, prereleases=True), (
            f"{label}: {name}=={version} is outside {group[name].specifier}"
        )


def test_requirements_txt_pins_the_runtime_and_includes_the_test_and_bench_pins():
    pins, includes = read_pins(REPO / "requirements.txt")
    assert includes == ["requirements-test.txt", "requirements-bench.txt"]
    assert_pins_match(pins, declared(PYPROJECT["project"]["dependencies"]), "requirements.txt / [project.dependencies]")


def test_the_test_and_bench_files_pin_their_extras():
    extras = PYPROJECT["project"]["optional-dependencies"]
    for extra, file in (("test", "requirements-test.txt"), ("bench", "requirements-bench.txt")):
        pins, includes = read_pins(REPO / file)
        assert includes == []
        assert_pins_match(pins, declared(extras[extra]), f"{file} / [{extra}]")


def test_a_library_pinned_twice_is_pinned_to_one_version():
    seen: dict[str, tuple[str, str]] = {}
    for file in ("requirements.txt", "requirements-test.txt", "requirements-bench.txt"):
        for name, version in read_pins(REPO / file)[0].items():
            if name in seen:
                assert seen[name][0] == version, f"{name}: {seen[name][1]} pins {seen[name][0]}, {file} pins {version}"
            seen.setdefault(name, (version, file))


def imported_top_level_modules(paths: list[Path]) -> dict[str, str]:
    """{top-level module: a file importing it} for every import, lazy ones (inside functions) too."""
    found: dict[str, str] = {}
    files = [path for root in paths for path in ([root] if root.is_file() else sorted(root.rglob("*.py")))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def test_every_library_the_runtime_imports_is_a_runtime_dependency():
    runtime = set(declared(PYPROJECT["project"]["dependencies"]))
    distributions = packages_distributions()
    missing = []
    for module, where in sorted(imported_top_level_modules(RUNTIME_CODE).items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY:
            continue
        owners = {canonicalize_name(name) for name in distributions.get(module, [])}
        if not owners & runtime:
            missing.append(f"{module} (imported by {where}; installed from {sorted(owners) or 'nothing'})")
    assert not missing, "runtime imports outside [project.dependencies]: " + "; ".join(missing)


def test_the_runtime_import_scan_sees_lazy_imports():
    # matplotlib is imported inside write_chart only: a scan of module-level imports would miss it
    assert imported_top_level_modules([REPO / "components" / "commands" / "profile"])["matplotlib"].endswith(
        "report.py"
    )

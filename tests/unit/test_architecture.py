"""The package's shape, enforced: no import cycles, imports point only down the layers, and
Pulumi's internals are used in one module only.

The layers, lowest first (components/__init__.py draws the same map):
    foundation  components, errors, plan_values, pulumi_internals, dynamic_imports, resource_types
    config      components.config         (schema, loading, rules; no Pulumi resources), with
                components.targets.registry, .base and each target's .schema (its deploy parameters)
    policy      components.policy         (guardrails as plain functions)
    image       components.image          (build context, build and push)
    targets     components.targets        (where a webservice runs)
    program     components.webservice, components.program
    offline     components.offline        (the program under the mock runtime)
    importer    components.importer       (`modelstack import`: Azure ML's files to config)
    state       components.state          (the backend, locks, saved plans, recovery)
    commands    components.commands       (the `modelstack` command; nothing imports it)
A module may import its own layer and the layers below it, with these further rules:
- policy and image, side by side, import nothing of each other;
- the targets: kubernetes knows nothing of Azure, AKS or ACI (it serves any cluster), local knows
  nothing of any other, ACI nothing of Kubernetes; azure (the platform) and aks may use
  kubernetes (AKS is Azure's cluster running the same Kubernetes objects).
Imports inside functions count as well: a lazy import is still a dependency; imports under
`if TYPE_CHECKING:` (annotations only) do not. The registry loads each target's `target` module
by name: lower layers reach a target through the interface of components.targets.base only.
Outside components/targets/, no code names a target (tests/unit/test_target_names.py).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.workspace import REPO as REPO_ROOT

REPO = REPO_ROOT
PACKAGE = REPO / "components"

LAYERS = (
    (
        "foundation",
        (
            "components",
            "components.errors",
            "components.plan_values",
            "components.pulumi_internals",
            "components.dynamic_imports",
            "components.resource_types",
        ),
    ),
    ("config", ("components.config",)),
    ("policy", ("components.policy",)),
    ("image", ("components.image",)),
    ("targets", ("components.targets",)),
    ("program", ("components.webservice", "components.program")),
    ("offline", ("components.offline",)),
    ("importer", ("components.importer",)),
    ("state", ("components.state",)),
    ("commands", ("components.commands",)),
)
# Layers side by side: neither imports the other although their order above is arbitrary.
SIDE_BY_SIDE = {frozenset({"policy", "image"})}
FORBIDDEN = (
    ("components.targets.kubernetes", "components.targets.azure", "the kubernetes target serves any cluster"),
    ("components.targets.kubernetes", "components.targets.aks", "the kubernetes target serves any cluster"),
    ("components.targets.kubernetes", "components.targets.aci", "the kubernetes target serves any cluster"),
    ("components.targets.aci", "components.targets.kubernetes", "ACI runs no Kubernetes objects"),
    ("components.targets.local", "components.targets.azure", "local Docker knows nothing of Azure"),
    ("components.targets.local", "components.targets.kubernetes", "local Docker knows nothing of Kubernetes"),
)
# Pulumi's internals: only components.pulumi_internals may import these.
PRIVATE_PULUMI_MODULES = (
    "pulumi.runtime.rpc",
    "pulumi.runtime.settings",
    "pulumi.runtime.sync_await",
    "pulumi.runtime.config",
    "pulumi.runtime.stack",
    "pulumi.runtime.resource",
    "pulumi.runtime.proto",
    "pulumi.output",
    "pulumi.dynamic.dynamic",
)
PUBLIC_MOCKS_NAMES = {"Mocks", "MockResourceArgs", "MockCallArgs"}
INTERNALS = "components.pulumi_internals"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Every node, except what sits under `if TYPE_CHECKING:` (imports for annotations only,
    which the interpreter never runs)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imported(tree: ast.Module, known: set[str]) -> list[tuple[str, int]]:
    """(module of ours, line) for every import in the file, at any depth; `from X import y`
    counts as X.y when X.y is a module of ours."""
    found = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.split(".")[0] == "components"]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"line {node.lineno}: relative import; the package uses absolute imports"
            module = node.module or ""
            if module.split(".")[0] != "components":
                continue
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.append((candidate if candidate in known else module, node.lineno))
    return found


# A target's deploy parameters and the registry that names the targets are configuration: the
# config schema is built from them (components.targets.registry). The rest of a target is above.
TARGET_CONFIG_MODULES = ("components.targets.registry", "components.targets.base")


def layer_of(module: str) -> tuple[int, str]:
    parts = module.split(".")
    if module in TARGET_CONFIG_MODULES or (
        len(parts) == 4 and parts[:2] == ["components", "targets"] and parts[3] == "schema"
    ):
        return next((index, name) for index, (name, _) in enumerate(LAYERS) if name == "config")
    best = None
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + ".") and prefix != "components":
                if best is None or len(prefix) > best[2]:
                    best = (index, name, len(prefix))
    assert best is not None, (
        f"{module} belongs to no layer: add it to LAYERS (and to the map in components/__init__.py)"
    )
    return best[0], best[1]


def dependency_graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    return {name: {target for target, _ in imported(tree, known) if target != name} for name, tree in trees.items()}


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: a component of more than one module is a cycle."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(dependency_graph()) == []


def test_the_cycle_check_can_fail():
    """The cycle the package had before it was split: config -> rules -> cluster_rules -> config."""
    graph = {"config": {"rules"}, "rules": {"cluster_rules", "naming"}, "cluster_rules": {"config"}, "naming": set()}
    assert cycles(graph) == [["cluster_rules", "config", "rules"]]


def test_imports_point_down_the_layers():
    trees = modules()
    known = set(trees)
    wrong = []
    for name, tree in trees.items():
        own, own_layer = layer_of(name)
        for target, line in imported(tree, known):
            if target == name:
                continue
            theirs, their_layer = layer_of(target)
            if theirs > own:
                wrong.append(f"{name}:{line} imports {target} ({their_layer} is above {own_layer})")
            elif theirs != own and frozenset({own_layer, their_layer}) in SIDE_BY_SIDE:
                wrong.append(f"{name}:{line} imports {target} ({own_layer} and {their_layer} stand side by side)")
            for source, forbidden, why in FORBIDDEN:
                if (name == source or name.startswith(source + ".")) and (
                    target == forbidden or target.startswith(forbidden + ".")
                ):
                    wrong.append(f"{name}:{line} imports {target} ({why})")
    assert wrong == []


def test_the_layer_rules_can_fail():
    """The checks above judge real imports: a config module importing a target is caught."""
    tree = ast.parse("from components.targets.local.webservice import endpoint_uris\n")
    ((target, _),) = imported(tree, {"components.targets.local.webservice"})
    assert layer_of(target)[0] > layer_of("components.config.schema")[0]


def private_pulumi_uses(name: str, tree: ast.Module) -> list[str]:
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pulumi"):
            module = node.module
            if module in PRIVATE_PULUMI_MODULES:
                uses.append(f"{name}:{node.lineno} imports from {module}")
            for alias in node.names:
                if f"{module}.{alias.name}" in PRIVATE_PULUMI_MODULES or alias.name.startswith("_"):
                    uses.append(f"{name}:{node.lineno} imports {module}.{alias.name}")
                if module == "pulumi.runtime.mocks" and alias.name not in PUBLIC_MOCKS_NAMES:
                    uses.append(f"{name}:{node.lineno} imports {module}.{alias.name}")
        elif isinstance(node, ast.Import):
            uses += [f"{name}:{node.lineno} imports {a.name}" for a in node.names if a.name in PRIVATE_PULUMI_MODULES]
        elif isinstance(node, ast.Attribute):
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id == "pulumi":
                dotted = ".".join(["pulumi", *reversed(chain)])
                if any(part.startswith("_") and not part.startswith("__") for part in chain) or any(
                    dotted.startswith(m) for m in PRIVATE_PULUMI_MODULES
                ):
                    uses.append(f"{name}:{node.lineno} uses {dotted}")
    return uses


def test_only_pulumi_internals_touches_pulumis_internals():
    uses = [use for name, tree in modules().items() if name != INTERNALS for use in private_pulumi_uses(name, tree)]
    assert uses == []
    # ... and the check sees such a use where there is one
    assert private_pulumi_uses(INTERNALS, modules()[INTERNALS]), (
        "components.pulumi_internals is where the internals are used"
    )
    assert private_pulumi_uses("x", ast.parse("import pulumi\npulumi.runtime.settings.ROOT.set(None)\n")) == [
        "x:2 uses pulumi.runtime.settings.ROOT.set",
        "x:2 uses pulumi.runtime.settings.ROOT",
        "x:2 uses pulumi.runtime.settings",
    ]


def test_the_policy_pack_does_not_load_the_mock_runtime_evaluator():
    """CrossGuard runs policies/__main__.py in a process of its own: it needs the rules, not `check`."""
    probe = (
        "import sys; sys.path.insert(0, 'policies'); import runpy\n"
        "import pulumi_policy\n"
        "pulumi_policy.PolicyPack = lambda **kwargs: None  # build the pack, do not serve it\n"
        "runpy.run_path('policies/__main__.py')\n"
        "print(sorted(m for m in sys.modules if m.startswith('components')))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi_azure_native', 'pulumi_kubernetes', 'pulumi_random', 'docker', 'kubernetes')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    *_, loaded_line, sdks_line = result.stdout.strip().splitlines()
    loaded, sdks = eval(loaded_line), eval(sdks_line)
    assert "components.policy.rules" in loaded
    assert not [
        m
        for m in loaded
        if m.startswith(("components.offline", "components.program", "components.webservice", "components.commands"))
    ], loaded
    # The rules ask the targets what they are (the registry, each target's descriptor and its own
    # policies); what a target declares, and the providers' SDKs, stay unloaded.
    assert "components.targets.registry" in loaded
    assert not [
        m
        for m in loaded
        if m.startswith("components.targets.")
        and m.rsplit(".", 1)[-1]
        in ("webservice", "container_group", "container_app", "environment", "platform", "frontend", "cluster")
    ], loaded
    assert sdks == []


# --- the scoring server beside the package ------------------------------------------------------------

SERVER_PACKAGE = REPO / "modelstack_server"


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(module, line) for every absolute import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def test_the_program_takes_only_the_contract_from_the_scoring_server():
    """components/ reads modelstack_server/contract.py (plan time, standard library only) and
    nothing else of the server, whose modules need the image's packages."""
    wrong = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, line in imports_of(path)
        if name.split(".")[0] == "modelstack_server"
        and name != "modelstack_server.contract"
        and not name.startswith("modelstack_server.contract.")
    ]
    assert wrong == []


def test_the_server_import_checks_can_fail(tmp_path):
    """The checks above see both kinds of import the way they are written in the package."""
    module = tmp_path / "m.py"
    module.write_text(
        "from modelstack_server import contract\ndef f():\n    from modelstack_server.keys import KeySource\n    import components.errors\n"
    )
    assert imports_of(module) == [
        ("modelstack_server.contract", 1),
        ("modelstack_server.keys.KeySource", 3),
        ("components.errors", 4),
    ]


def test_the_scoring_server_knows_nothing_of_the_program():
    """The server runs in the image, where components/ is not."""
    wrong = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in sorted(SERVER_PACKAGE.rglob("*.py"))
        for name, line in imports_of(path)
        if name.split(".")[0] == "components"
    ]
    assert wrong == []

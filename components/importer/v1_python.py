"""Azure ML SDK v1 code (a .py file or a notebook's code cells), read from its syntax tree:
nothing is run. The calls read are `Model.register` / `run.register_model`, `InferenceConfig`,
`Environment.from_conda_specification` / `from_pip_requirements`, the three
`*Webservice.deploy_configuration`, `AksCompute.provisioning_configuration` /
`attach_configuration`, and `Model.deploy` / `ComputeTarget.create` / `attach` / `AksCompute(ws,
name)` for the names. The SDK's keyword names are modelstack's keys already.

A value is taken only when it is a literal (a string, number, bool, list or dict of them);
`Model.Framework.X` is read as the framework X. Anything else (a variable, a call, an
f-string) is an error naming the argument and its line: it is never evaluated or guessed. Which
call is meant is read from how the calls are linked (the variable passed to `Model.deploy`), or
asked for (`--target`, `--service`, `--model`) when the file holds several.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.errors import ConfigError
from components.importer.counterparts import ACI_WEBSERVICE, AKS_WEBSERVICE, LOCAL_WEBSERVICE, of_webservice
from components.importer.result import IMPORT_RULE, Imported, ImportedModel, SourcePath, refused
from components.targets.registry import DEFAULT_TARGET

SIGNATURES: dict[str, tuple[str, ...]] = {
    "Model.register": (
        "workspace",
        "model_path",
        "model_name",
        "tags",
        "properties",
        "description",
        "datasets",
        "model_framework",
        "model_framework_version",
        "child_paths",
        "sample_input_dataset",
        "sample_output_dataset",
        "resource_configuration",
    ),
    "register_model": (
        "model_name",
        "model_path",
        "tags",
        "properties",
        "model_framework",
        "model_framework_version",
        "description",
        "datasets",
        "sample_input_dataset",
        "sample_output_dataset",
        "resource_configuration",
    ),
    "InferenceConfig": (
        "entry_script",
        "runtime",
        "conda_file",
        "extra_docker_file_steps",
        "source_directory",
        "enable_gpu",
        "description",
        "base_image",
        "base_image_registry",
        "cuda_version",
        "environment",
    ),
    "Environment.from_conda_specification": ("name", "file_path"),
    "Environment.from_pip_requirements": ("name", "file_path", "pip_version"),
    "Environment.get": ("workspace", "name", "version"),
    "LocalWebservice.deploy_configuration": ("port",),
    "AciWebservice.deploy_configuration": (
        "cpu_cores",
        "memory_gb",
        "tags",
        "properties",
        "description",
        "location",
        "auth_enabled",
        "ssl_enabled",
        "enable_app_insights",
        "ssl_cert_pem_file",
        "ssl_key_pem_file",
        "ssl_cname",
        "dns_name_label",
        "primary_key",
        "secondary_key",
        "collect_model_data",
        "cmk_vault_base_url",
        "cmk_key_name",
        "cmk_key_version",
        "vnet_name",
        "subnet_name",
    ),
    "AksWebservice.deploy_configuration": (
        "autoscale_enabled",
        "autoscale_min_replicas",
        "autoscale_max_replicas",
        "autoscale_refresh_seconds",
        "autoscale_target_utilization",
        "collect_model_data",
        "auth_enabled",
        "cpu_cores",
        "memory_gb",
        "enable_app_insights",
        "scoring_timeout_ms",
        "replica_max_concurrent_requests",
        "max_request_wait_time",
        "num_replicas",
        "primary_key",
        "secondary_key",
        "tags",
        "properties",
        "description",
        "gpu_cores",
        "period_seconds",
        "initial_delay_seconds",
        "timeout_seconds",
        "success_threshold",
        "failure_threshold",
        "namespace",
        "token_auth_enabled",
        "compute_target_name",
        "cpu_cores_limit",
        "memory_gb_limit",
        "blobfuse_enabled",
    ),
    "AksCompute.provisioning_configuration": (
        "agent_count",
        "vm_size",
        "ssl_cname",
        "ssl_cert_pem_file",
        "ssl_key_pem_file",
        "location",
        "vnet_resourcegroup_name",
        "vnet_name",
        "subnet_name",
        "service_cidr",
        "dns_service_ip",
        "docker_bridge_cidr",
        "cluster_purpose",
        "load_balancer_type",
        "load_balancer_subnet",
    ),
    "AksCompute.attach_configuration": ("resource_group", "cluster_name", "resource_id", "cluster_purpose"),
    "Model.deploy": (
        "workspace",
        "name",
        "models",
        "inference_config",
        "deployment_config",
        "deployment_target",
        "overwrite",
        "show_output",
    ),
    "ComputeTarget.create": ("workspace", "name", "provisioning_configuration"),
    "ComputeTarget.attach": ("workspace", "name", "attach_configuration"),
    "AksCompute": ("workspace", "name"),
}
# The deploy configuration calls, each with its web service class.
DEPLOY_CALLS = {
    f"{webservice}.deploy_configuration": webservice
    for webservice in (LOCAL_WEBSERVICE, ACI_WEBSERVICE, AKS_WEBSERVICE)
}
FRAMEWORKS = {
    "CUSTOM": "Custom",
    "TENSORFLOW": "TensorFlow",
    "SCIKITLEARN": "ScikitLearn",
    "ONNX": "Onnx",
    "TFKERAS": "TfKeras",
    "PYTORCH": "PyTorch",
    "MULTI": "Multi",
}
PATH_ARGS = {"ssl_cert_pem_file", "ssl_key_pem_file"}
SECRET_ARGS = {"primary_key", "secondary_key"}
REFUSED_ARGS = {
    "cmk_vault_base_url": (
        "the container group's data is encrypted with your own key",
        "customer-managed encryption keys on ACI have no counterpart in modelstack",
    ),
    "cmk_key_name": (
        "the container group's data is encrypted with your own key",
        "customer-managed encryption keys on ACI have no counterpart in modelstack",
    ),
    "cmk_key_version": (
        "the container group's data is encrypted with your own key",
        "customer-managed encryption keys on ACI have no counterpart in modelstack",
    ),
}


@dataclass
class Call:
    kind: str
    node: ast.Call
    assigned_to: str | None
    args: dict[str, ast.expr] = field(default_factory=dict)


class Source:
    """One parsed file: its calls by kind, what each variable was assigned, and where lines are."""

    def __init__(self, path: Path, tree: ast.Module, cell_of_line: list[int]):
        self.path = path
        self.name = path.name
        self.cell_of_line = cell_of_line
        self.calls: list[Call] = []
        self.bindings: dict[str, list[Call]] = {}
        self.attribute_sets: list[tuple[list[str], ast.expr]] = []  # (['inference_config', 'base_image'], value)
        self._read(tree)

    def where(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", 0)
        if not self.cell_of_line or not (0 < line <= len(self.cell_of_line)):
            return f"line {line}"
        cell = self.cell_of_line[line - 1]
        first = self.cell_of_line.index(cell) + 1
        return f"cell {cell}, line {line - first + 1}"

    def _read(self, tree: ast.Module) -> None:
        assigned: dict[int, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Call):
                    assigned[id(node.value)] = target.id
                chain = _attribute_chain(target)
                if chain and len(chain) > 1:
                    self.attribute_sets.append((chain, node.value))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kind = _kind(node.func)
            if kind is None:
                continue
            call = Call(kind, node, assigned.get(id(node)))
            names = SIGNATURES[kind]
            for index, arg in enumerate(node.args):
                if isinstance(arg, ast.Starred) or index >= len(names):
                    raise refused(
                        f"{self.name}: {kind}",
                        f"{kind}(...) at {self.where(node)} passes arguments by *args or beyond its parameters",
                        rule="arguments are read from the code as written",
                        fix="pass them by name",
                    )
                call.args[names[index]] = arg
            for keyword in node.keywords:
                if keyword.arg is None:
                    raise refused(
                        f"{self.name}: {kind}",
                        f"{kind}(...) at {self.where(node)} passes **kwargs",
                        rule="arguments are read from the code as written, never evaluated",
                        fix="pass each argument by name",
                    )
                call.args[keyword.arg] = keyword.value
            self.calls.append(call)
            if call.assigned_to:
                self.bindings.setdefault(call.assigned_to, []).append(call)
        self.calls.sort(key=lambda c: (c.node.lineno, c.node.col_offset))

    def of(self, *kinds: str) -> list[Call]:
        return [c for c in self.calls if c.kind in kinds]

    def value(self, call: Call, arg: str) -> Any:
        """The literal value of an argument, or an error naming it and its line."""
        node = call.args[arg]
        if arg == "model_framework":
            chain = _attribute_chain(node)
            if chain and len(chain) >= 2 and chain[-2] == "Framework" and chain[-1] in FRAMEWORKS:
                return FRAMEWORKS[chain[-1]]
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            shown = ast.unparse(node) if len(ast.dump(node)) < 2000 else "an expression"
            raise refused(
                f"{self.name}: {call.kind}({arg}=...)",
                f"{arg}={shown} at {self.where(node)} is not a literal value",
                rule="modelstack reads the code without running it: a value is taken only when it is written out (a string, number, bool, list or dict)",
                fix="write the value itself in the call (not a variable or a call), or give it on the command line",
            ) from None

    def source(self, call: Call, arg: str | None = None) -> str:
        return f"{self.name}: {call.kind}" + (f"({arg})" if arg else "") + f" at {self.where(call.node)}"


def _attribute_chain(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _kind(func: ast.expr) -> str | None:
    chain = _attribute_chain(func)
    if not chain:
        return None
    last_two = ".".join(chain[-2:])
    if last_two in SIGNATURES:
        return last_two
    if chain[-1] in ("InferenceConfig", "AksCompute") and len(chain) == 1:
        return chain[-1]
    if chain[-1] == "InferenceConfig":
        return "InferenceConfig"
    if chain[-1] == "register_model" and len(chain) >= 2:
        return "register_model"
    return None


# --- from calls to an import -------------------------------------------------------------------


def read_python(
    source: Source,
    imported: Imported,
    *,
    webservice: str | None,
    service: str | None,
    models: dict[str, str | None],
    compute: str | None,
) -> None:
    """`webservice`: the web service class whose deploy configuration is imported, when asked
    for (--target); otherwise the file's only one. Without any, the service takes the default
    target with modelstack's defaults."""
    deploy_call = _deploy_call(source, webservice)
    deploy_calls = [c for c in source.of("Model.deploy") if _passes(source, c, "deployment_config", deploy_call)]
    imported.service = service or _service_name(source, deploy_calls)
    imported.service_field = "--service" if service else f"{source.name}: Model.deploy(name)"
    deployed = DEPLOY_CALLS[deploy_call.kind] if deploy_call else webservice
    imported.target = of_webservice(deployed) if deployed else DEFAULT_TARGET
    if deploy_call:
        imported.went(source.source(deploy_call), "target", imported.target)
        _read_deploy(source, deploy_call, imported)
    else:
        imported.dropped(
            f"{source.name}: deploy_configuration",
            f"none in the file: target {imported.target} with modelstack's defaults",
        )
    _read_inference(source, imported)
    _read_models(source, imported, models, deploy_calls)
    if deployed == AKS_WEBSERVICE:  # deployed to an AKS compute target the file may create
        _read_compute(source, imported, compute, deploy_calls)


def _bound(source: Source, node: ast.expr | None, at: ast.Call) -> Call | None:
    """The call a variable holds where it is used: its last assignment from a call before that line."""
    if not isinstance(node, ast.Name):
        return None
    before = [c for c in source.bindings.get(node.id, []) if c.node.lineno < at.lineno]
    return before[-1] if before else None


def _passes(source: Source, deploy: Call, arg: str, call: Call | None) -> bool:
    node = deploy.args.get(arg)
    return call is None or node is None or _bound(source, node, deploy.node) is call


def _deploy_call(source: Source, webservice: str | None) -> Call | None:
    calls = [c for c in source.of(*DEPLOY_CALLS) if webservice is None or DEPLOY_CALLS[c.kind] == webservice]
    if len(calls) > 1:
        lines = ", ".join(f"{c.kind} at {source.where(c.node)}" for c in calls)
        same = len({c.kind for c in calls}) == 1
        raise refused(
            f"{source.name}: deploy_configuration",
            f"the file has {len(calls)} deploy configurations: {lines}",
            rule="one import makes one service with one deploy configuration",
            fix="import a file (or notebook) holding only the one you deploy"
            if same
            else "pick one with --target local, aci or aks",
        )
    return calls[0] if calls else None


def _service_name(source: Source, deploy_calls: list[Call]) -> str | None:
    names = set()
    for call in deploy_calls:
        if "name" in call.args:
            names.add(source.value(call, "name"))
    if len(names) == 1:
        return names.pop()
    if len(names) > 1:
        raise refused(
            f"{source.name}: Model.deploy(name)",
            f"the file deploys services named {', '.join(sorted(map(str, names)))}",
            rule="one import makes one service",
            fix="pick its name with --service NAME",
        )
    return None


def _read_deploy(source: Source, call: Call, imported: Imported) -> None:
    for arg in call.args:
        where = source.source(call, arg)
        value = call.args[arg]
        if isinstance(value, ast.Constant) and value.value is None:
            continue
        if arg in SECRET_ARGS:
            raise refused(
                where,
                "a key is written in the code in plain text",
                rule="keys are Pulumi secrets in modelstack, never plain text",
                fix=f"remove it; after the import: pulumi config set --secret --path 'modelstack:services.{imported.service or 'SERVICE'}.deploy.{arg}' VALUE",
            )
        if arg in REFUSED_ARGS:
            problem, why = REFUSED_ARGS[arg]
            raise refused(where, problem, rule=why, fix=f"remove {arg} to import")
        if arg == "compute_target_name":
            imported.compute = source.value(call, arg)
            imported.compute_field = where
            imported.went(where, "compute")
            continue
        value = source.value(call, arg)
        if arg == "collect_model_data":
            if value:
                raise refused(
                    where,
                    "model data collection is on",
                    rule="collect_model_data is not supported by modelstack yet",
                    fix="remove it (or set it to False) to import",
                )
            imported.dropped(where, "False is modelstack's behaviour")
            continue
        if arg == "blobfuse_enabled":
            if value:
                raise refused(
                    where,
                    "models are mounted with blobfuse",
                    rule="modelstack copies the models into the image",
                    fix="remove blobfuse_enabled to import",
                )
            imported.dropped(where, "False is modelstack's behaviour: models are in the image")
            continue
        imported.deploy[arg] = SourcePath(str(value), source.path.parent, where) if arg in PATH_ARGS else value
        imported.went(where, f"deploy.{arg}")


def _one(source: Source, calls: list[Call], what: str, fix: str) -> Call | None:
    """The one call meant: identical repeats count once (a notebook that builds the same config twice)."""
    distinct = {ast.dump(ast.Call(func=c.node.func, args=c.node.args, keywords=c.node.keywords)): c for c in calls}
    if len(distinct) > 1:
        lines = ", ".join(source.where(c.node) for c in distinct.values())
        raise refused(
            f"{source.name}: {what}",
            f"the file has {len(distinct)} different {what} calls ({lines})",
            rule="one import makes one service",
            fix=fix,
        )
    return next(iter(distinct.values()), None)


def _read_inference(source: Source, imported: Imported) -> None:
    inference = _one(
        source,
        source.of("InferenceConfig"),
        "InferenceConfig",
        "import a file holding only the InferenceConfig you deploy",
    )
    if inference is None:
        raise refused(
            f"{source.name}: InferenceConfig",
            "the file has no InferenceConfig(...)",
            rule="a service needs an entry script (InferenceConfig(entry_script=...))",
            fix="import the file that builds the InferenceConfig",
        )
    folder = source.path.parent
    if "source_directory" in inference.args:
        directory = source.value(inference, "source_directory")
        if directory is not None:
            imported.source_directory = SourcePath(str(directory), folder, source.source(inference, "source_directory"))
            imported.went(source.source(inference, "source_directory"), "source_directory")
    if "entry_script" not in inference.args:
        raise refused(
            source.source(inference),
            "InferenceConfig has no entry_script",
            rule="a service needs an entry script (init() and run())",
            fix="add entry_script='score.py'",
        )
    entry = source.value(inference, "entry_script")
    base = (
        imported.source_directory.resolved()
        if imported.source_directory and (imported.source_directory.resolved() / str(entry)).exists()
        else folder
    )
    imported.entry_script = SourcePath(str(entry), base, source.source(inference, "entry_script"))
    imported.went(source.source(inference, "entry_script"), "entry_script")
    for arg in inference.args:
        where = source.source(inference, arg)
        if arg in ("entry_script", "source_directory"):
            continue
        if arg == "environment":
            _read_environment(source, inference.args[arg], imported)
            continue
        if arg == "base_image_registry":
            raise refused(
                where,
                "base_image_registry is an object made in code",
                rule="the registry's address and username are read from attribute settings (inference_config.base_image_registry.address = '...')",
                fix="set address and username as attributes with literal values",
            )
        value = source.value(inference, arg)
        if value is None:
            continue
        if arg == "runtime":
            if str(value).lower() != "python":
                raise refused(
                    where,
                    f"runtime {value!r} is not served by modelstack",
                    rule="modelstack serves Python entry scripts",
                    fix="use runtime='python'",
                )
            imported.dropped(where, "python is the only runtime modelstack serves")
        elif arg == "description":
            imported.shared["description"] = value
            imported.went(where, "description")
        elif arg in ("conda_file", "extra_docker_file_steps"):
            base = (
                imported.source_directory.resolved()
                if imported.source_directory and (imported.source_directory.resolved() / str(value)).exists()
                else folder
            )
            imported.environment[arg] = SourcePath(str(value), base, where)
            imported.went(where, f"environment.{arg}")
        else:  # enable_gpu, base_image, cuda_version
            imported.environment[arg] = value
            imported.went(where, f"environment.{arg}")
    for chain, node in source.attribute_sets:
        if chain[0] != inference.assigned_to:
            continue
        where = f"{source.name}: {'.'.join(chain)} at {source.where(node)}"
        attribute = ".".join(chain[1:])
        fake = Call("InferenceConfig", ast.Call(func=ast.Name("x"), args=[], keywords=[]), None, {attribute: node})
        if attribute == "base_image_registry.password":
            raise refused(
                where,
                "the registry's password is written in the code in plain text",
                rule="passwords are Pulumi secrets in modelstack",
                fix=f"remove it; after the import: pulumi config set --secret --path 'modelstack:services.{imported.service or 'SERVICE'}.environment.base_image_registry.password' VALUE",
            )
        if attribute in ("base_image_registry.address", "base_image_registry.username"):
            imported.environment.setdefault("base_image_registry", {})[chain[-1]] = source.value(fake, attribute)
            imported.went(where, f"environment.{attribute}")
        elif attribute in ("base_image", "cuda_version", "enable_gpu"):
            imported.environment[attribute] = source.value(fake, attribute)
            imported.went(where, f"environment.{attribute}")
        else:
            raise refused(
                where,
                f"InferenceConfig.{attribute} is set",
                rule=IMPORT_RULE,
                fix="set it in the InferenceConfig(...) call instead",
            )


def _read_environment(source: Source, node: ast.expr, imported: Imported) -> None:
    if not isinstance(node, ast.Name) or len(source.bindings.get(node.id, [])) != 1:
        raise refused(
            f"{source.name}: InferenceConfig(environment)",
            f"environment={ast.unparse(node)} at {source.where(node)} is not one Environment.from_conda_specification/from_pip_requirements(...) of this file",
            rule="the environment is read from the call that builds it from a file",
            fix="build it in this file with Environment.from_pip_requirements(name, file_path) or from_conda_specification, or give --pip-requirements FILE",
        )
    call = source.bindings[node.id][0]
    where = source.source(call, "file_path")
    if call.kind == "Environment.get":
        raise refused(
            source.source(call),
            "the environment is one registered in the workspace",
            rule="modelstack builds the image from a requirements or conda file it can read",
            fix="give --pip-requirements FILE (or export the environment's conda file and use Environment.from_conda_specification)",
        )
    if (
        call.kind not in ("Environment.from_conda_specification", "Environment.from_pip_requirements")
        or "file_path" not in call.args
    ):
        raise refused(
            f"{source.name}: InferenceConfig(environment)",
            f"environment={node.id} is not built from a file",
            rule="the environment is read from the call that builds it from a file",
            fix="give --pip-requirements FILE",
        )
    key = "conda_file" if call.kind.endswith("conda_specification") else "pip_requirements"
    imported.environment[key] = SourcePath(str(source.value(call, "file_path")), source.path.parent, where)
    imported.went(where, f"environment.{key}")
    if "name" in call.args:
        imported.dropped(
            source.source(call, "name"), "an Azure ML environment's name; the image is named after the service"
        )
    if "pip_version" in call.args:
        imported.dropped(source.source(call, "pip_version"), "the image's pip is the base image's")


MODEL_DROPPED = {
    "workspace": "modelstack needs no workspace",
    "datasets": "dataset lineage stays in Azure ML",
    "sample_input_dataset": "dataset lineage stays in Azure ML",
    "sample_output_dataset": "dataset lineage stays in Azure ML",
    "resource_configuration": "sizing for no-code deployment; the deploy configuration sizes the service",
}


def _read_models(source: Source, imported: Imported, asked: dict[str, str | None], deploy_calls: list[Call]) -> None:
    registered: dict[str, ImportedModel] = {}
    for call in source.of("Model.register", "register_model"):
        if "model_name" not in call.args:
            continue
        name = source.value(call, "model_name")
        model = ImportedModel(str(name), None, origin=source.source(call, "model_name"))
        for arg in call.args:
            where = source.source(call, arg)
            if arg == "model_name":
                continue
            if arg in MODEL_DROPPED:
                if arg != "workspace":
                    imported.dropped(where, MODEL_DROPPED[arg])
                continue
            if arg == "child_paths":
                raise refused(
                    where,
                    "only some files of the folder are registered",
                    rule="a modelstack model is a whole file or folder",
                    fix="register a folder holding only those files",
                )
            value = source.value(call, arg)
            if arg == "model_path":
                if call.kind == "register_model":
                    imported.dropped(
                        where, "a path in the run's outputs in Azure ML; the files are named with --model NAME=PATH"
                    )
                else:
                    model.path = SourcePath(str(value), source.path.parent, where)
                    imported.went(where, f"models.{name}.path")
                continue
            key = {"model_framework": "framework", "model_framework_version": "framework_version"}.get(arg, arg)
            if key not in ("framework", "framework_version", "tags", "properties", "description"):
                raise refused(
                    where, f"'{arg}' is not a parameter modelstack knows for a model", rule=IMPORT_RULE, fix="remove it"
                )
            model.values[key] = value
            imported.went(where, f"models.{name}.{key}")
        registered[model.name] = model
    imported.models = list(registered.values())
    served = [n for n in asked] or _deployed_models(source, deploy_calls, registered)
    if not served:
        if len(registered) == 1:
            served = list(registered)
        elif registered:
            raise refused(
                f"{source.name}: Model.register",
                f"the file registers {len(registered)} models ({', '.join(registered)})",
                rule="the service's models are named",
                fix="name the ones the service serves with --model NAME (repeat it for several)",
            )
        else:
            raise refused(
                f"{source.name}: Model.register",
                "the file registers no model",
                rule="a service serves at least one model",
                fix="give the model's files with --model NAME=PATH",
            )
    imported.served = served


def _deployed_models(source: Source, deploy_calls: list[Call], registered: dict[str, ImportedModel]) -> list[str]:
    """The models of Model.deploy(..., [model], ...) when each is a variable bound once to a register call."""
    for call in deploy_calls:
        node = call.args.get("models")
        if not isinstance(node, ast.List):
            continue
        names = []
        for element in node.elts:
            bound = source.bindings.get(element.id, []) if isinstance(element, ast.Name) else []
            if len(bound) != 1 or "model_name" not in bound[0].args:
                return []
            names.append(str(source.value(bound[0], "model_name")))
        if all(n in registered for n in names):
            return names
    return []


def _literal_name(source: Source, call: Call) -> str | None:
    try:
        return str(source.value(call, "name")) if "name" in call.args else None
    except ConfigError:
        return None


def _read_compute(source: Source, imported: Imported, asked: str | None, deploy_calls: list[Call]) -> None:
    if asked:
        imported.compute, imported.compute_field = asked, "--compute"
    if imported.compute is None:
        for call in deploy_calls:
            holder = _bound(source, call.args.get("deployment_target"), call.node)
            if (
                holder is not None
                and holder.kind in ("AksCompute", "ComputeTarget.create", "ComputeTarget.attach")
                and "name" in holder.args
            ):
                imported.compute = str(source.value(holder, "name"))
                imported.compute_field = source.source(holder, "name")
                imported.went(imported.compute_field, "compute")
                break
    if imported.compute is None:
        raise refused(
            f"{source.name}: deployment_target",
            "the AKS cluster the service runs on is not named in the file by a literal name",
            rule="an aks service names its cluster (compute)",
            fix="give it with --compute NAME",
        )
    makers = [
        c
        for c in source.of("ComputeTarget.create", "ComputeTarget.attach")
        if _literal_name(source, c) == imported.compute
    ]
    for call in source.of("ComputeTarget.create", "ComputeTarget.attach"):
        if "name" in call.args and _literal_name(source, call) is None:
            imported.dropped(
                source.source(call, "name"),
                f"{ast.unparse(call.args['name'])} at {source.where(call.args['name'])} is not a literal: its cluster is not read (declare it in the stack)",
            )
    if len(makers) > 1:
        raise refused(
            source.source(makers[1]),
            f"the file makes cluster '{imported.compute}' more than once",
            rule="a service runs on one cluster",
            fix="import a file holding only the one you deploy to",
        )
    if not makers:
        return
    maker = makers[0]
    arg = "provisioning_configuration" if maker.kind == "ComputeTarget.create" else "attach_configuration"
    config = _bound(source, maker.args.get(arg), maker.node)
    if config is None:
        return
    values: dict[str, Any] = {}
    for name in config.args:
        value = source.value(config, name)
        where = source.source(config, name)
        if value is None:
            continue
        if config.kind == "AksCompute.attach_configuration" and name != "cluster_purpose":
            values.setdefault("attach", {})[name] = value
            imported.went(where, f"clusters.{imported.compute}.attach.{name}")
        else:
            values[name] = SourcePath(str(value), source.path.parent, where) if name in PATH_ARGS else value
            imported.went(where, f"clusters.{imported.compute}.{name}")
    imported.clusters[imported.compute] = values
    imported.went(
        source.source(config),
        f"clusters.{imported.compute}",
        "a cluster the stack creates" if arg == "provisioning_configuration" else "an attached cluster",
    )

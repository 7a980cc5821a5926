"""The whole import, from source files to the new texts of Pulumi.yaml and the stack's file.

    sources -> Imported (v1_json / v1_python / v2_yaml) -> names and paths checked and placed
    -> the config entries -> the files edited in memory -> modelstack's own validation of the
    result (the rules `check` runs) -> a Plan, written or shown by the command.

Nothing is written here: `writer.write_all` does it, and only for a plan that validated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import load, reading as config_reading
from components.config.merge import merged_values
from components.config.naming import RESERVED_TAGS
from components.config.rules import MODEL_NAME, SERVICE_NAME
from components.config.schema import DEPLOY_MODELS, NAMESPACE, config_key
from components.errors import ConfigError, ConfigErrors
from components.importer import counterparts, reading, v1_json, v1_python, v2_yaml, writer
from components.importer.placing import Placer
from components.importer.result import Finding, Imported, ImportedModel, SourcePath
from components.policy import settings
from components.policy.rules import POLICIES
from components.targets import registry

AZURE_ML_IMAGES = "mcr.microsoft.com/azureml/"
STACK_KEYS = ("target", "compute", "deploy", "versions")
# The section the AKS clusters a v1 SDK file creates or attaches are declared in.
CLUSTERS = "clusters"


@dataclass
class Request:
    project_dir: Path
    stack: str
    sources: list[Path]
    service: str | None = None
    models: dict[str, str | None] = field(default_factory=dict)  # --model NAME[=PATH]
    target: str | None = None
    compute: str | None = None
    pip_requirements: Path | None = None
    cpu_cores: float | None = None
    memory_gb: float | None = None
    copy_outside: bool = False
    force: bool = False


@dataclass
class Plan:
    service: str
    files: dict[Path, tuple[str | None, str]]  # path -> (old text or None, new text)
    copies: list[tuple[Path, Path]]
    findings: list[Finding]

    def diff(self, project_dir: Path) -> str:
        return "".join(
            writer.diff(old or "", new, path.relative_to(project_dir).as_posix())
            for path, (old, new) in self.files.items()
            if old != new
        )


# Fields only one of Azure ML's YAML dialects has: `az ml model deploy` (v1) reads its inference
# and deployment configurations as YAML as well as JSON, with the JSON's field names; v2 online
# endpoints and deployments have fields of their own.
V1_FIELDS = frozenset(
    {
        "computeType",
        "containerResourceRequirements",
        "autoScaler",
        "livenessProbeRequirements",
        "dataCollection",
        "authEnabled",
        "tokenAuthEnabled",
        "sslEnabled",
        "appInsightsEnabled",
        "scoringTimeoutMs",
        "maxConcurrentRequestsPerContainer",
        "maxQueueWaitMs",
        "numReplicas",
        "gpuCores",
        "dnsNameLabel",
        "entryScript",
        "sourceDirectory",
        "condaFile",
        "extraDockerfileSteps",
        "extraDockerFileSteps",
        "baseImage",
        "baseImageRegistry",
        "enableGpu",
        "cudaVersion",
        "runtime",
    }
)
V2_FIELDS = frozenset(
    {
        "$schema",
        "type",
        "endpoint_name",
        "model",
        "code_configuration",
        "instance_type",
        "instance_count",
        "scale_settings",
        "request_settings",
        "liveness_probe",
        "readiness_probe",
        "environment_variables",
        "auth_mode",
        "traffic",
        "mirror_traffic",
        "compute",
        "identity",
        "public_network_access",
    }
)
SOURCES_RULE = "sources are inferenceconfig / deploymentconfig files in JSON or YAML (v1 CLI), a .py file or .ipynb notebook (v1 SDK), or online endpoint and deployment .yml files (v2)"


def _family(path: Path, document: Any = None) -> str:
    """The kind of source a file is: by its suffix, and a YAML file by its fields."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "v1-json"
    if suffix in (".py", ".ipynb"):
        return "v1-python"
    if suffix in (".yml", ".yaml"):
        fields = set(document) if isinstance(document, dict) else set()
        v1, v2 = sorted(fields & V1_FIELDS), sorted(fields & V2_FIELDS)
        if v1 and v2:
            raise ConfigError(
                f"{path.name} has fields of both Azure ML v1 ({', '.join(v1)}) and v2 ({', '.join(v2)})",
                key=path.name,
                rule="a YAML source is a v1 inference or deployment configuration (entryScript, computeType...) or a v2 online endpoint or deployment ($schema, endpoint_name, model...)",
                fix=f"keep the fields of one of them in {path.name}",
            )
        if v1:
            return "v1-json"  # the same fields as the JSON files
        if v2 or (fields and fields <= v2_yaml.ENDPOINT_FIELDS):
            return "v2-yaml"
        raise ConfigError(
            f"{path.name} is neither a v1 configuration (entryScript, computeType...) nor a v2 online endpoint or deployment ($schema, endpoint_name, model...)",
            key=path.name,
            rule=SOURCES_RULE,
            fix="name the files Azure ML deployed from",
        )
    raise ConfigError(
        f"{path.name} is not a source modelstack imports",
        key=path.name,
        rule=SOURCES_RULE,
        fix="name the files Azure ML deployed from",
    )


def _load(path: Path, imported: Imported) -> Any:
    """A JSON or YAML source's document, its fields' lines noted for the report."""
    lines: dict[str, int] = {}
    document = reading.read_json(path, lines) if path.suffix.lower() == ".json" else reading.read_yaml(path, lines)
    imported.lines.update({f"{path.name}: {field}": line for field, line in lines.items()})
    return document


def read_sources(request: Request) -> Imported:
    if not request.sources:
        raise ConfigError(
            "no source files are named",
            key="SOURCES",
            rule="an import reads Azure ML's files",
            fix="name them: modelstack import inferenceconfig.json deploymentconfig.json --stack NAME ...",
        )
    imported = Imported()
    documents: dict[Path, Any] = {}
    for path in request.sources:
        if path.suffix.lower() in (".json", ".yml", ".yaml"):
            documents[path] = _load(path, imported)
        else:
            _family(path)  # the suffix, before anything is read
    families = {_family(p, documents.get(p)) for p in request.sources}
    if len(families) > 1:
        raise ConfigError(
            f"the sources mix {', '.join(sorted(families))} files",
            key="SOURCES",
            rule="one import reads one kind of source: v1 JSON or YAML, v1 Python or v2 YAML",
            fix="import each kind on its own",
        )
    family = families.pop()
    if family == "v1-json":
        _v1_json(request, imported, documents)
    elif family == "v1-python":
        _v1_python(request, imported)
    else:
        _v2_yaml(request, imported, documents)
    return imported


def _unset_empty(document: dict, name: str, imported: Imported, prefix: str = "") -> dict:
    """A v1 configuration without its empty fields (`baseImage:` in YAML, null in JSON): Azure ML
    takes an empty field as not given, and so does the import, saying so."""
    kept = {}
    for key, value in document.items():
        if value is None:
            imported.dropped(f"{name}: {prefix}{key}", "empty: not set, as Azure ML reads it")
        elif isinstance(value, dict) and not prefix and key in v1_json.GROUPS:
            kept[key] = _unset_empty(value, name, imported, f"{key}.")
        else:
            kept[key] = value
    return kept


def _v1_json(request: Request, imported: Imported, loaded: dict[Path, Any]) -> None:
    documents: dict[str, tuple[Path, dict]] = {}
    for path in request.sources:
        document = _unset_empty(reading.read_mapping(path, loaded[path]), path.name, imported)
        kind = v1_json.classify(document, path.name)
        if kind in documents:
            raise ConfigError(
                f"{documents[kind][0].name} and {path.name} are both {kind} configurations",
                key=path.name,
                rule="az ml model deploy reads one inference and one deployment configuration",
                fix="name one of each",
            )
        documents[kind] = (path, document)
    imported.service, imported.service_field = request.service, "--service"
    if "inference" not in documents:
        raise ConfigError(
            "no inference configuration (inferenceconfig.json) is named",
            key="--ic",
            rule="a service needs its entry script, from the inference configuration",
            fix="add inferenceconfig.json to the sources",
        )
    v1_json.read_inference_config(documents["inference"][1], documents["inference"][0], imported)
    if "deployment" in documents:
        deployed = v1_json.read_deployment_config(documents["deployment"][1], documents["deployment"][0], imported)
        # --target may name another target taking the same parameters (a cluster of any kind for AKS)
        if request.target and counterparts.webservice_of(request.target) != counterparts.webservice_of(deployed):
            raise ConfigError(
                f"--target {request.target} but {documents['deployment'][0].name} deploys to {deployed}",
                key="--target",
                rule="the deployment configuration's computeType decides the target",
                fix="leave out --target, or import another deployment configuration",
            )
        imported.target = request.target or imported.target
    else:
        imported.target = request.target or registry.DEFAULT_TARGET
        imported.dropped("--dc", f"no deployment configuration: target {imported.target} with modelstack's defaults")
    if not request.models:
        raise ConfigError(
            "the models to serve are not in the JSON files",
            key="-m",
            rule="az ml model deploy -m NAME:VERSION names registered models; modelstack needs their files",
            fix="give each with --model NAME=PATH (the file or folder registered as NAME)",
        )
    imported.served = list(request.models)
    if imported.service is None:
        raise ConfigError(
            "the service's name is not in the JSON files",
            key="-n",
            rule="az ml model deploy -n NAME names the service",
            fix="give it with --service NAME",
        )
    imported.compute, imported.compute_field = request.compute, "--compute"


def _v1_python(request: Request, imported: Imported) -> None:
    if len(request.sources) > 1:
        raise ConfigError(
            "more than one Python source is named",
            key="SOURCES",
            rule="one import reads one .py file or notebook",
            fix="import the file that deploys the service",
        )
    path = request.sources[0]
    tree, cells = reading.read_notebook(path) if path.suffix.lower() == ".ipynb" else reading.read_python(path)
    source = v1_python.Source(path, tree, cells)
    asked = counterparts.webservice_of(request.target) if request.target else None
    v1_python.read_python(
        source, imported, webservice=asked, service=request.service, models=request.models, compute=request.compute
    )
    if request.target:  # the deploy configuration of its web service class was read, for this target
        imported.target = request.target
    if imported.service is None:
        raise ConfigError(
            f"{path.name} deploys no service by a literal name",
            key=f"{path.name}: Model.deploy(name)",
            rule="the service's name is Model.deploy's name",
            fix="give it with --service NAME",
        )


def _v2_yaml(request: Request, imported: Imported, loaded: dict[Path, Any]) -> None:
    endpoint: tuple[Path, dict] | None = None
    deployments: list[tuple[Path, dict]] = []
    for path in request.sources:
        document = reading.read_mapping(path, loaded[path])
        if v2_yaml.classify(document, path.name) == "endpoint":
            if endpoint is not None:
                raise ConfigError(
                    f"{endpoint[0].name} and {path.name} are both endpoints",
                    key=path.name,
                    rule="one import makes one service: one endpoint and its deployments",
                    fix="import each endpoint on its own",
                )
            endpoint = (path, document)
        else:
            deployments.append((path, document))
    endpoint_names = {
        path: str(document["endpoint_name"])
        for path, document in deployments
        if document.get("endpoint_name") is not None
    }
    if endpoint is not None and endpoint[1].get("name") is not None:
        for path, named in endpoint_names.items():
            if named != str(endpoint[1]["name"]):
                raise ConfigError(
                    f"{path.name} is a deployment of endpoint '{named}', not of '{endpoint[1]['name']}' ({endpoint[0].name})",
                    key=f"{path.name}: endpoint_name",
                    rule="one import makes one service: an endpoint and its own deployments",
                    fix=f"import {path.name} with endpoint '{named}', or correct its endpoint_name",
                )
    elif len(set(endpoint_names.values())) > 1:
        (first, one), *others = endpoint_names.items()
        second, other = next((p, n) for p, n in others if n != one)
        raise ConfigError(
            f"{first.name} is a deployment of endpoint '{one}' and {second.name} of '{other}'",
            key=f"{second.name}: endpoint_name",
            rule="one import makes one service: the deployments of one endpoint",
            fix="import each endpoint's deployments on their own",
        )
    traffic: dict[str, float] = {}
    if endpoint is not None:
        traffic = v2_yaml.read_endpoint(endpoint[1], endpoint[0], imported)
    else:
        imported.deploy["auth_enabled"] = True
        imported.went("auth_mode", "deploy.auth_enabled", "no endpoint file: Azure ML's default auth_mode key")
    if not deployments:
        raise ConfigError(
            "no deployment file is named",
            key="SOURCES",
            rule="an endpoint serves its deployments",
            fix="add the deployments' YAML files",
        )
    if request.service:
        imported.service, imported.service_field = request.service, "--service"
    elif imported.service is None:
        names = {str(d.get("endpoint_name")) for _, d in deployments if d.get("endpoint_name")}
        if len(names) == 1:
            imported.service, imported.service_field = names.pop(), f"{deployments[0][0].name}: endpoint_name"
    sizes = {k: v for k, v in (("cpu_cores", request.cpu_cores), ("memory_gb", request.memory_gb)) if v is not None}
    read = [
        v2_yaml.read_deployment(document, path, service=imported.service, sizes=sizes) for path, document in deployments
    ]
    if any(v2_yaml._is_kubernetes(d) for _, d in deployments):
        imported.platform = v2_yaml.KUBERNETES
    try:
        v2_yaml.combine(read, traffic, imported, request.models, request.pip_requirements is not None)
    except ConfigError as error:
        if endpoint is None or not (error.key or "").startswith("traffic."):
            raise
        raise ConfigError(
            error.detail, key=f"{endpoint[0].name}: {error.key}", rule=error.rule, fix=error.fix
        ) from None
    if endpoint is not None:  # the shares are the endpoint file's
        for finding in imported.findings:
            if finding.source.startswith("traffic."):
                finding.source = f"{endpoint[0].name}: {finding.source}"
    if request.compute:
        imported.compute, imported.compute_field = request.compute, "--compute"
    imported.target = request.target


# --- checks, placement and entries ---------------------------------------------------------------


def _stack_path(request: Request) -> Path:
    return load.stack_file(request.project_dir, request.stack)  # refuses a name that would leave stacks/


def _read_file(path: Path) -> str | None:
    try:
        return config_reading.read_text(path, rule=load.YAML_RULE)
    except FileNotFoundError:
        return None


def _stack_config(stack_text: str | None) -> dict:
    document = writer.load(stack_text or "")
    return document.get("config") if isinstance(document.get("config"), dict) else {}


def _stack_computes(stack_text: str | None) -> dict[str, set[str]]:
    """The names the stack file declares in each section a target's `compute` names (clusters,
    kubernetes_clusters...), by section."""
    config = _stack_config(stack_text)
    computes = {}
    for section in {t.compute_section for t in registry.all_targets() if t.compute_section is not None}:
        names = config.get(f"{NAMESPACE}:{section}")
        computes[section] = set(names) if isinstance(names, dict) else set()
    return computes


def _v2_target(compute: str, computes: dict[str, set[str]]) -> str:
    """Where a v2 endpoint's deployments (AksWebservice's parameters) run: on AKS, as Azure ML
    would, unless the compute is a cluster of another target taking the same parameters."""
    home = counterparts.of_webservice(counterparts.AKS_WEBSERVICE)
    for other in registry.all_targets():
        if (
            other.azureml_webservice == counterparts.AKS_WEBSERVICE
            and other.name != home
            and other.compute_section is not None
        ):
            if compute in computes.get(other.compute_section, set()):
                return other.name
    return home


def _decide_target(request: Request, imported: Imported, stack_text: str | None) -> str:
    """The target the service runs on (v2 sources leave it to the stack's clusters)."""
    computes = _stack_computes(stack_text)
    if imported.target is None:  # v2: the stack's clusters decide
        if imported.compute is None:
            raise ConfigError(
                "the cluster to run on is not named",
                key=imported.compute_field or "--compute",
                rule="an Azure ML online endpoint runs on Azure's machines or an attached cluster; modelstack runs it on a cluster of the stack",
                fix=f"give --compute NAME (a cluster of stack {request.stack}), or --target {registry.DEFAULT_TARGET}",
            )
        imported.target = _v2_target(imported.compute, computes)
    section = registry.target(imported.target).compute_section
    if section is not None:
        if imported.compute is None:
            raise ConfigError(
                "the cluster to run on is not named",
                key=imported.compute_field or "--compute",
                rule=f"an {imported.target} service names its cluster (compute)",
                fix="give --compute NAME",
            )
        declared = computes.get(section, set()) | (set(imported.clusters) if section == CLUSTERS else set())
        if imported.compute not in declared:
            raise ConfigError(
                f"cluster '{imported.compute}' is not declared in stack {request.stack}",
                key=imported.compute_field or "--compute",
                rule=f"an {imported.target} service runs on a cluster declared under {NAMESPACE}:{section} of its stack",
                fix=f"declare it in stacks/Pulumi.{request.stack}.yaml first, or give --compute with one of: {', '.join(sorted(declared)) or '(none declared)'}",
            )
    return imported.target


def _apply_models(request: Request, imported: Imported) -> None:
    known = {m.name: m for m in imported.models}
    registered = dict(known)
    wanted = set(imported.served) | {m for v in imported.versions for m in v.get("models", [])}
    for raw, path in request.models.items():
        name = raw.split(":", 1)[0]
        if path is None:
            continue
        model = known.get(name) or ImportedModel(name, None, origin=f"--model {raw}")
        imported.went(
            f"--model {raw}", f"models.{name}.path", f"instead of {model.path.value}" if model.path is not None else ""
        )
        model.path = SourcePath(path, Path.cwd(), f"--model {raw}")
        known[name] = model
        if ":" in raw:
            imported.dropped(f"--model {raw}", "the version: modelstack versions a model by a hash of its files")
        wanted.add(name) if name in imported.served or not imported.served else None
    imported.served = [s.split(":", 1)[0] for s in imported.served]
    for name in sorted(wanted | set(imported.served)):
        name = name.split(":", 1)[0]
        served_model = known.get(name)
        if served_model is None or served_model.path is None:
            origin = served_model.origin if served_model else "--model"
            raise ConfigError(
                f"the files of model '{name}' are not in the sources",
                key=origin,
                rule="a model registered in Azure ML is served from its files",
                fix=f"give them with --model {name}=PATH (the file or folder you registered)",
            )
    imported.models = [known[n] for n in dict.fromkeys([*imported.served, *sorted(wanted)]) if n in known]
    _carry_renamed(request, imported, registered)


def _carry_renamed(request: Request, imported: Imported, registered: dict[str, ImportedModel]) -> None:
    """A model the source registers but that is imported under another name (--model NEW=PATH):
    its tags, description and framework go with it when that is the only way to read the command,
    and the report says where everything of it went; otherwise what it had is reported dropped."""
    kept = {m.name for m in imported.models}
    left_out = [m for name, m in registered.items() if name not in kept]
    if not left_out:
        return
    new = [
        m
        for m in imported.models
        if m.name not in registered and any(raw.split(":", 1)[0] == m.name for raw in request.models)
    ]
    renamed = len(left_out) == 1 and len(new) == 1 and not new[0].values
    for old in left_out:
        prefix = f"models.{old.name}."
        for finding in imported.findings:
            if finding.went is None or not (finding.went.startswith(prefix) or finding.went == f"models.{old.name}"):
                continue
            rest = finding.went[len(prefix) :] if finding.went.startswith(prefix) else ""
            if renamed and rest != "path":
                finding.went = f"models.{new[0].name}" + (f".{rest}" if rest else "")
                finding.note = f"registered as '{old.name}', imported as '{new[0].name}' (--model)" + (
                    f"; {finding.note}" if finding.note else ""
                )
            else:
                why = (
                    f"replaced by --model {new[0].name}=PATH"
                    if renamed
                    else f"model '{old.name}' is not imported (the service serves {', '.join(imported.served)})"
                )
                finding.went, finding.note = None, why
    if renamed:
        new[0].values = dict(left_out[0].values)


def _check_names(imported: Imported) -> str:
    """The service's name, once it and the models' names are allowed."""
    if imported.service is None:
        raise ConfigError(
            "the service has no name", key="--service", rule="a service is named", fix="give --service NAME"
        )
    if not SERVICE_NAME.match(imported.service):
        raise ConfigError(
            f"service name '{imported.service}' is not allowed",
            key=imported.service_field,
            rule="webservice names are 3-32 characters: lowercase letters, digits and '-', starting with a letter, not ending with '-'",
            fix="give another name with --service NAME",
        )
    for model in imported.models:
        if not MODEL_NAME.match(model.name):
            raise ConfigError(
                f"model name '{model.name}' is not allowed",
                key=model.origin or "--model",
                rule="model names are letters, digits, '.', '_' and '-', starting with a letter or digit, at most 255 characters",
                fix="register it under another name (--model NEWNAME=PATH)",
            )
    return imported.service


def _pip_override(request: Request, imported: Imported, placer: Placer) -> None:
    if request.pip_requirements is None:
        return
    for key in ("conda_file",):
        if key in imported.environment:
            imported.dropped(f"environment.{key}", "replaced by --pip-requirements")
            imported.findings[-1].origin = _origin(imported, f"environment.{key}")
            imported.environment.pop(key)
    image = imported.environment.get("base_image")
    if isinstance(image, str) and image.startswith(AZURE_ML_IMAGES):
        imported.environment.pop("base_image")
        imported.dropped(
            "environment.base_image",
            f"{image} is Azure ML's conda image; with --pip-requirements the service builds on modelstack's Debian base",
        )
        imported.findings[-1].origin = _origin(imported, "environment.base_image")
    imported.environment["pip_requirements"] = SourcePath(
        str(request.pip_requirements), Path.cwd(), "--pip-requirements"
    )
    imported.went("--pip-requirements", "environment.pip_requirements")


def _origin(imported: Imported, key: str) -> str:
    """The source fields (with their lines) a value of the service came from, for the report."""
    sources = dict.fromkeys(f.source for f in imported.findings if f.went == key)
    return ", ".join(
        f"{source}, line {imported.lines[source]}" if source in imported.lines else source for source in sources
    )


def _placed(value: Any, placer: Placer) -> Any:
    if isinstance(value, SourcePath):
        return placer.place(value)
    if isinstance(value, dict):
        return {k: _placed(v, placer) for k, v in value.items()}
    return value


def _entries(request: Request, imported: Imported, placer: Placer, target: str) -> tuple[dict, dict, dict]:
    models = {}
    for model in imported.models:
        assert model.path is not None  # _apply_models refuses a served model without files
        models[model.name] = {"path": placer.place(model.path), **model.values}
    entry_script = imported.entry_script
    assert entry_script is not None  # each source's reader refuses sources that name none
    shared: dict[str, Any] = {"models": list(imported.served)}
    if imported.source_directory is not None:
        source_dir = placer.place(imported.source_directory)
        shared["source_directory"] = source_dir
        shared["entry_script"] = placer.place_inside(entry_script, imported.source_directory, source_dir)
    else:
        shared["entry_script"] = placer.place(entry_script)
    if imported.environment:
        shared["environment"] = _placed(imported.environment, placer)
    shared.update(imported.shared)
    stack: dict[str, Any] = {"target": target}
    if registry.target(target).compute_section is not None:
        stack["compute"] = imported.compute
    allowed = DEPLOY_MODELS[target].model_fields
    deploy = {}
    for key, value in imported.deploy.items():
        if key in allowed:
            deploy[key] = _placed(value, placer)
        else:
            imported.dropped(f"deploy.{key}", f"not a parameter of target {imported.target}")
    if deploy:
        stack["deploy"] = deploy
    if imported.versions:
        stack["versions"] = imported.versions
    return models, shared, stack


# --- the files ---------------------------------------------------------------------------------


def _services_serving(document: Any, shared: bool) -> dict[str, set[str]]:
    """service -> the models it (or one of its versions) serves, as a config file declares them."""
    config = document.get("config") if isinstance(document, dict) else None
    section = config.get(f"{NAMESPACE}:services") if isinstance(config, dict) else None
    if shared and isinstance(section, dict) and "value" in section:
        section = section["value"]
    serving: dict[str, set[str]] = {}
    for name, entry in (section or {}).items() if isinstance(section, dict) else ():
        if not isinstance(entry, dict):
            continue
        names = {str(m) for m in entry.get("models") or [] if isinstance(m, str)}
        for version in entry.get("versions") or []:
            if isinstance(version, dict):
                names |= {str(m) for m in version.get("models") or [] if isinstance(m, str)}
        serving[str(name)] = names
    return serving


def _report_replaced(
    request: Request, project: Any, stack_doc: Any, service: str, models: dict, imported: Imported
) -> None:
    """--force: a model replaced under services other than the imported one changes what they serve."""
    taken = writer.existing_names(project, "models", shared=True) | writer.existing_names(
        stack_doc, "models", shared=False
    )
    serving: dict[str, set[str]] = {}
    for name, served in [*_services_serving(project, True).items(), *_services_serving(stack_doc, False).items()]:
        serving.setdefault(name, set()).update(served)
    for model in models:
        if model not in taken:
            continue
        others = sorted(name for name, served in serving.items() if model in served and name != service)
        imported.went(
            f"--force (model '{model}')",
            f"models.{model}",
            f"replaces the declared model '{model}'"
            + (
                f"; services {', '.join(others)} serve it too and will serve the imported files"
                if len(others) > 1
                else f"; service {others[0]} serves it too and will serve the imported files"
                if others
                else ""
            ),
        )


def _refuse_existing(request: Request, project: Any, stack_doc: Any, service: str, models: dict) -> None:
    if request.force:
        return
    taken_services = writer.existing_names(project, "services", shared=True) | writer.existing_names(
        stack_doc, "services", shared=False
    )
    if service in taken_services:
        raise ConfigError(
            f"service '{service}' is already declared",
            key=config_key("services", service),
            rule="an import never replaces a service unless asked",
            fix="give another name with --service NAME, or pass --force to replace it",
        )
    taken_models = writer.existing_names(project, "models", shared=True) | writer.existing_names(
        stack_doc, "models", shared=False
    )
    for name in models:
        if name in taken_models:
            raise ConfigError(
                f"model '{name}' is already declared",
                key=config_key("models", name),
                rule="an import never replaces a model unless asked",
                fix="name it otherwise with --model NEWNAME=PATH, or pass --force to replace it",
            )


def _values_from_texts(project_text: str, stack_text: str, stack: str) -> tuple[dict, dict, set[str]]:
    project = config_reading.parse_yaml(project_text, "Pulumi.yaml", rule=load.YAML_RULE) or {}
    declared = load._strip_namespace(load._config_section(project, "Pulumi.yaml"), "Pulumi.yaml")
    shared = {k: d.get("value") if isinstance(d, dict) and "value" in d else d for k, d in declared.items()}
    stack_document = config_reading.parse_yaml(stack_text, f"Pulumi.{stack}.yaml", rule=load.YAML_RULE) or {}
    values = load._strip_namespace(load._config_section(stack_document, f"Pulumi.{stack}.yaml"), f"Pulumi.{stack}.yaml")
    secure: set[str] = set()
    values = {k: load._replace_secure_leaves(v, f"{NAMESPACE}:{k}", secure) for k, v in values.items()}
    return shared, values, secure


def _validate(request: Request, project_text: str, stack_text: str, findings: list[Finding], service: str) -> None:
    """modelstack's own rules over the result (what `check` runs first): an import that would
    not pass them is refused, each error followed by the source field it came from."""
    shared, values, secure = _values_from_texts(project_text, stack_text, request.stack)
    try:
        load.parse(
            merged_values(shared, values), stack=request.stack, project_dir=request.project_dir, secure_paths=secure
        )
    except ConfigErrors as errors:
        raise ConfigErrors([_traced(e, findings) for e in errors.errors]) from None


def _traced(error: ConfigError, findings: list[Finding]) -> ConfigError:
    sources = [
        f.source
        for f in findings
        if f.went
        and error.key
        and (error.key == f.went or error.key.startswith(f"{f.went}.") or error.key.startswith(f"{f.went}["))
    ]
    if not sources:
        return error
    return ConfigError(f"{error.detail} (imported from {sources[-1]})", key=error.key, rule=error.rule, fix=error.fix)


def _full_keys(imported: Imported, service: str) -> None:
    for finding in imported.findings:
        went = finding.went
        if went is None or went.startswith(f"{NAMESPACE}:"):
            continue
        if went.startswith(("models.", "clusters.")):
            finding.went = f"{NAMESPACE}:{went}"
        elif went == "services.<name>":
            finding.went = config_key("services", service)
        else:
            finding.went = (
                f"{config_key('services', service)}.{went}"
                if not went.startswith("versions[")
                else f"{config_key('services', service)}.{went}"
            )


def plan(request: Request) -> Plan:
    stack_error = load.stack_name_error(request.stack)
    if stack_error is not None:  # before any file is read
        raise stack_error
    imported = read_sources(request)
    project_path = request.project_dir / "Pulumi.yaml"
    stack_path = _stack_path(request)
    project_text = _read_file(project_path)
    if project_text is None:
        raise ConfigError(
            f"no Pulumi.yaml in {request.project_dir}",
            rule="modelstack runs inside a modelstack project",
            fix="cd into the project folder, or set MODELSTACK_PROJECT_DIR",
        )
    stack_text = _read_file(stack_path)
    if request.cpu_cores is not None and imported.target is not None:
        imported.deploy["cpu_cores"] = request.cpu_cores
        imported.went("--cpu-cores", "deploy.cpu_cores")
    if request.memory_gb is not None and imported.target is not None:
        imported.deploy["memory_gb"] = request.memory_gb
        imported.went("--memory-gb", "deploy.memory_gb")
    _apply_models(request, imported)
    service = _check_names(imported)
    target = _decide_target(request, imported, stack_text)
    _required_auth(request, imported, target)
    placer = Placer(request.project_dir, service, request.copy_outside)
    _pip_override(request, imported, placer)
    models, shared, stack_entry = _entries(request, imported, placer, target)

    project = writer.load(project_text)
    stack_doc = writer.load(stack_text or "")
    _refuse_existing(request, project, stack_doc, service, models)
    if request.force:
        _report_replaced(request, project, stack_doc, service, models, imported)
    writer.add_shared(project, "models", models)
    writer.add_shared(project, "services", {service: shared})
    writer.add_stack(stack_doc, "services", {service: stack_entry})
    has_registry = f"{NAMESPACE}:registry" in _stack_config(stack_text)
    if registry.target(target).pulls_from_acr and not has_registry:
        writer.add_stack(stack_doc, "registry", {"kind": "acr"})
        imported.went(
            "(the workspace's registry)",
            f"{NAMESPACE}:registry",
            "kind acr: Azure ML pushed images to the workspace's container registry",
        )
    _required_tags(request, imported, stack_doc)
    declared = _stack_computes(stack_text).get(CLUSTERS, set())
    for name, values in imported.clusters.items():
        if name in declared:
            imported.dropped(
                f"clusters.{name}", f"stack {request.stack} declares cluster '{name}' already; it is left as it is"
            )
            continue
        writer.add_stack(stack_doc, CLUSTERS, {name: _placed(values, placer)}, replace=False)
    new_project, new_stack = writer.dump(project), writer.dump(stack_doc)
    _full_keys(imported, service)
    for finding in imported.findings:
        finding.at = imported.lines.get(finding.source, finding.at)
    files = {project_path: (project_text, new_project), stack_path: (stack_text, new_stack)}
    return Plan(service, files, placer.copies, imported.findings)


AUTH_POLICY = "webservice-auth-enabled"


def _policy_level(request: Request, name: str) -> tuple[str, dict]:
    policy = next(p for p in POLICIES if p.name == name)
    return settings.effective(policy, settings.load_stack_policy_config(request.project_dir, request.stack))


def _required_auth(request: Request, imported: Imported, target: str) -> None:
    """A service Azure ML ran without a key because that was its target's default (ACI) gets
    one when the stack's webservice-auth-enabled policy requires it, and the report says so;
    authentication turned off in the source is refused by that policy's name, as `check` would."""
    if not registry.target(target).authenticates:
        return
    field = DEPLOY_MODELS[target].model_fields.get("auth_enabled")
    if field is None or imported.deploy.get("token_auth_enabled") is True:
        return
    given = imported.deploy.get("auth_enabled")
    if given is True or (given is None and field.default is not False):
        return
    level, _ = _policy_level(request, AUTH_POLICY)
    if level == "disabled":
        return
    if given is False:
        source = next((f.source for f in imported.findings if f.went == "deploy.auth_enabled"), "auth_enabled")
        raise ConfigError(
            f"authentication is off ({source}), which the {AUTH_POLICY} policy of stack {request.stack} refuses",
            key=source,
            rule=f"an import writes nothing that `modelstack check` would refuse; every {target} service requires a key",
            fix=f"set it to true in the source (callers then send Authorization: Bearer <key>), or set {AUTH_POLICY} to disabled in policies/config/{request.stack}.json",
        )
    imported.deploy["auth_enabled"] = True
    imported.went(
        f"({target}'s default: authentication off)",
        "deploy.auth_enabled",
        f"changed to true: the {AUTH_POLICY} policy of stack {request.stack} requires a key; callers send Authorization: Bearer <key>",
    )


REQUIRED_TAGS_POLICY = "required-tags"
ENVIRONMENT_TAG = "environment"


def _required_tags(request: Request, imported: Imported, stack_doc: Any) -> None:
    """A stack with Azure resources (an ACR registry) carries the tags the required-tags policy
    asks of it, as `check` judges them (policies/config/<stack>.json, or the policy's defaults):
    modelstack adds its own (managed-by...), the import writes `environment` as the stack's name,
    and any other one missing refuses the import, naming it, since only its owner knows its value."""
    config = stack_doc.get("config") if isinstance(stack_doc, dict) else None
    if not isinstance(config, dict):
        return
    registry_spec = config.get(f"{NAMESPACE}:registry")
    if not (isinstance(registry_spec, dict) and registry_spec.get("kind") == "acr"):
        return
    level, params = _policy_level(request, REQUIRED_TAGS_POLICY)
    if level == "disabled":
        return
    tags = config.get(f"{NAMESPACE}:tags")
    present = set(tags) if isinstance(tags, dict) else set()
    missing = [str(t) for t in params.get("required_tags", []) if t not in present and t not in RESERVED_TAGS]
    policy_file = f"policies/config/{request.stack}.json"
    others = [t for t in missing if t != ENVIRONMENT_TAG]
    if others:
        raise ConfigError(
            f"stack {request.stack} would lack the tag(s) {', '.join(others)} that the {REQUIRED_TAGS_POLICY} policy requires",
            key=f"{NAMESPACE}:tags",
            rule=f"an import writes nothing that `modelstack check` would refuse; {policy_file if settings.stack_policy_config_path(request.project_dir, request.stack).exists() else 'the policy'} requires the tags {', '.join(map(str, params.get('required_tags', [])))} on Azure resources",
            fix=f"add them under modelstack:tags in stacks/Pulumi.{request.stack}.yaml (e.g. {others[0]}: VALUE), then import again",
        )
    if ENVIRONMENT_TAG in missing:
        if not isinstance(tags, dict):
            writer.add_stack(stack_doc, "tags", {ENVIRONMENT_TAG: request.stack})
        else:
            tags[ENVIRONMENT_TAG] = request.stack
        imported.went(
            f"(the {REQUIRED_TAGS_POLICY} policy)",
            f"{NAMESPACE}:tags.{ENVIRONMENT_TAG}",
            f"'{request.stack}', the stack's name: the policy requires it on the stack's Azure resources",
        )


def validate(request: Request, plan_: Plan) -> None:
    project_text = plan_.files[request.project_dir / "Pulumi.yaml"][1]
    stack_text = plan_.files[_stack_path(request)][1]
    _validate(request, project_text, stack_text, plan_.findings, plan_.service)


def apply(request: Request, plan_: Plan, *, dry_run: bool) -> None:
    """Validate the plan and write it, all or nothing. Files copied in with --copy-outside are
    put in place first (paths are checked against the files themselves), and removed again when
    the plan does not validate, on a dry run, or when the write fails."""
    writer.write_all({}, plan_.copies)
    try:
        validate(request, plan_)
        if not dry_run:
            writer.write_all(plan_.files, [])
    except BaseException:
        writer.remove_copies(plan_.copies, request.project_dir)
        raise
    if dry_run:
        writer.remove_copies(plan_.copies, request.project_dir)


def report(findings: list[Finding]) -> str:
    mapped = [f for f in findings if f.went is not None]
    dropped = [f for f in findings if f.went is None]
    lines = [f"{len(mapped)} field(s) mapped, {len(dropped)} dropped:"]
    lines += [f"  {f.line()}" for f in mapped]
    lines += [f"  {f.line()}" for f in dropped]
    return "\n".join(lines)


def as_json(findings: list[Finding]) -> str:
    return json.dumps([{"source": f.source, "line": f.at, "went": f.went, "note": f.note} for f in findings], indent=2)

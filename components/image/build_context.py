"""The build context of a webservice image: rendered Dockerfile, environment, code, models.

Pure decisions live here (what goes into the context, the tag derived from it); reading the
files is the only side effect. The tag is a hash of the rendered context, never a clock, so
the same inputs give the same tag on every machine and an unchanged service builds nothing.

The wheelhouse (the pip packages, downloaded on the host so the build needs no network) is
not hashed file by file: it is determined by the requirements text, which is.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml

from components import SOURCE_ROOT
from components.config.environment_files import conda_document
from components.config.reading import read_config_file
from components.config.schema import DEFAULT_BASE_IMAGE, EnvironmentSpec, ModelSpec, ServiceSpec
from components.errors import ConfigError
from components.image.model_versions import (
    APP_ROOT,
    MODELS_ROOT,
    PlacedModel,
    azureml_model_dir,
    place_models,
    tree_digest,
    tree_files,
)
from modelstack_server import contract

TEMPLATES_DIR = SOURCE_ROOT / "templates"
# Azure ML's scoring server (azmlinfsrv): the fallback server, and the library modelstack's own
# server takes AMLRequest/AMLResponse and the swagger templates from.
SERVER_REQUIREMENT = "azureml-inference-server-http==1.5.1"
SERVER_PACKAGE = "azureml-inference-server-http"
# modelstack's scoring server (services.<name>.scoring_server: modelstack, the default): a package
# of its own beside components/, copied into the image as is; its pinned requirements are its own file.
MODELSTACK_SERVER_DIR = SOURCE_ROOT / "modelstack_server"
# Azure ML's own images for the cases our Debian base does not cover (conda, CUDA).
CONDA_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
DEFAULT_CUDA_VERSION = "11.8"
TAG_LENGTH = 16


def gpu_base_image(cuda_version: str | None) -> str:
    return f"mcr.microsoft.com/azureml/openmpi4.1.0-cuda{cuda_version or DEFAULT_CUDA_VERSION}-cudnn8-ubuntu22.04"


# The front of azmlinfsrv and the modules of the package it imports, all standard library: an
# image of azmlinfsrv carries these and none of the server's dependencies.
FRONT_MODULES = (
    "__init__.py",
    "azmlinfsrv_front.py",
    "bounded_files.py",
    "contract.py",
    "cors.py",
    "keys.py",
    "settings.py",
    "tls.py",
    "tokens.py",
)
# What the image runs with `python -m`, per scoring_server.
SERVER_MODULES = {"modelstack": "modelstack_server", "azmlinfsrv": "modelstack_server.azmlinfsrv_front"}


def support_files(scoring_server: str) -> dict[str, Path]:
    """path in the build context -> the file it is a copy of, for the chosen server only:
    modelstack's server is the whole package but the front; azmlinfsrv's front, the modules it uses."""
    if scoring_server == "azmlinfsrv":
        modules = [MODELSTACK_SERVER_DIR / name for name in FRONT_MODULES]
    else:
        modules = [f for f in sorted(MODELSTACK_SERVER_DIR.glob("*.py")) if f.name != "azmlinfsrv_front.py"]
    return {f"modelstack/modelstack_server/{f.name}": f for f in modules}


def server_requirements(scoring_server: str) -> list[str]:
    """The pinned packages the chosen server needs in the image."""
    if scoring_server == "azmlinfsrv":
        return [SERVER_REQUIREMENT]
    text = (MODELSTACK_SERVER_DIR / "requirements.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


LOCAL_BUILD_BASE = "modelstack/python-base:"
LOCAL_RUNTIME_BASE = "modelstack/python-runtime:"


def is_locally_built(image: str) -> bool:
    """Our Debian bases, made by scripts/build-base-image.sh: no registry has them to pull."""
    return image.startswith((LOCAL_BUILD_BASE, LOCAL_RUNTIME_BASE))


def runtime_base_image(base_image: str) -> str:
    """The final stage's base: for our Debian base, its variant without pip (build-base-image.sh)."""
    if base_image.startswith(LOCAL_BUILD_BASE):
        return LOCAL_RUNTIME_BASE + base_image.removeprefix(LOCAL_BUILD_BASE)
    return base_image


def base_image_reference(env: EnvironmentSpec) -> str:
    """FROM line: base_image, prefixed with base_image_registry's address when it lacks one."""
    if env.base_image:
        image = env.base_image
        if env.base_image_registry and not image.startswith(env.base_image_registry.address.rstrip("/") + "/"):
            image = f"{env.base_image_registry.address.rstrip('/')}/{image}"
        return image
    if env.enable_gpu:
        return gpu_base_image(env.cuda_version)
    if env.conda_file:
        return CONDA_BASE_IMAGE
    return DEFAULT_BASE_IMAGE


def _requirement_name(line: str) -> str:
    for stop in "=<>!~[; @":
        line = line.split(stop, 1)[0]
    return line.strip().lower().replace("_", "-")


def render_requirements(user_requirements: str, scoring_server: str = "modelstack") -> str:
    """The user's requirements plus the scoring server's packages, each unless they pin it themselves."""
    lines = [line.rstrip() for line in user_requirements.splitlines()]
    names = {_requirement_name(line) for line in lines if line.strip() and not line.lstrip().startswith(("#", "-"))}
    added = [r for r in server_requirements(scoring_server) if _requirement_name(r) not in names]
    if added:
        lines += [f"# added by modelstack: the scoring server that runs init()/run() ({scoring_server})", *added]
    return "\n".join(lines).strip() + "\n"


def render_conda_file(user_conda: str, key: str, scoring_server: str = "modelstack") -> str:
    """The user's conda file with the scoring server's packages added to its pip section."""
    document = conda_document(user_conda, key)  # its shape checked, read as the engine reads YAML
    dependencies = list(document.get("dependencies") or [])
    pip_section = next((d for d in dependencies if isinstance(d, dict) and "pip" in d), None)
    if pip_section is None:
        pip_section = {"pip": []}
        if not any(isinstance(d, str) and d.split("=")[0].strip() == "pip" for d in dependencies):
            dependencies.append("pip")
        dependencies.append(pip_section)
    present = {_requirement_name(p) for p in pip_section["pip"] if isinstance(p, str)}
    pip_section["pip"] = [
        *pip_section["pip"],
        *(r for r in server_requirements(scoring_server) if _requirement_name(r) not in present),
    ]
    document["dependencies"] = dependencies
    return yaml.safe_dump(document, sort_keys=False)


@dataclass(frozen=True)
class BuildContext:
    """Everything that goes into one image, and the tag derived from it."""

    service_name: str
    dockerfile: str
    environment_files: dict[str, str]  # requirements.txt or conda.yml
    support_files: dict[str, str]  # modelstack's own files in the image (the scoring server or front)
    source_files: dict[str, Path]  # path inside src/ -> file on disk
    models: list[PlacedModel]
    base_image: str
    requirements_digest: str | None  # names the wheelhouse for pip environments
    digest: str = field(default="")

    @property
    def tag(self) -> str:
        return self.digest[:TAG_LENGTH]

    @property
    def model_versions(self) -> dict[str, str]:
        return {m.name: m.version for m in self.models}

    def model_files(self) -> dict[str, Path]:
        """path inside models/ -> file on disk, original names kept."""
        placed: dict[str, Path] = {}
        for model in self.models:
            root = model.source.parent
            for file in tree_files(model.source):
                placed[f"{model.folder}/{file.relative_to(root).as_posix()}"] = file
        return placed


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


def render_dockerfile(**values) -> str:
    # The config's rules (components.config.references) keep line breaks out of every value;
    # this is the last line of defence: only the extra steps file may add lines.
    for name, value in values.items():
        if name != "extra_docker_file_steps" and isinstance(value, str) and any(c in value for c in "\r\n\0"):
            raise ConfigError(
                f"{name} {value!r} holds a line break",
                rule="a config value rendered into the Dockerfile is one line",
                fix="correct the config value (see `modelstack check`)",
            )
    return _environment.get_template("Dockerfile.j2").render(**values)


def _config_file(project_dir: Path, relative: str, key: str, what: str) -> str:
    """A file the config names, read within the bounds of components.config.reading."""
    return read_config_file(project_dir / relative, key=key, what=what)


def _source_files(project_dir: Path, service: ServiceSpec) -> tuple[dict[str, Path], str]:
    """Files copied to src/, and the entry script's path inside src/."""
    if service.source_directory:
        root = (project_dir / service.source_directory).resolve()
        files = {f.relative_to(root).as_posix(): f for f in tree_files(root)}
        return files, Path(service.entry_script).as_posix()
    script = (project_dir / service.entry_script).resolve()
    return {script.name: script}, script.name


def _digest(context: BuildContext) -> str:
    hasher = hashlib.sha256()
    hasher.update(context.dockerfile.encode())
    for name, text in sorted(context.environment_files.items()):
        hasher.update(f"\0env:{name}\0".encode() + text.encode())
    for name, text in sorted(context.support_files.items()):
        hasher.update(f"\0support:{name}\0".encode() + text.encode())
    for name, path in sorted(context.source_files.items()):
        hasher.update(f"\0src:{name}\0{tree_digest(path)}".encode())
    for model in context.models:
        hasher.update(f"\0model:{model.name}:{model.version}".encode())
    return hasher.hexdigest()


def build_context(
    project_dir: Path, service_name: str, service: ServiceSpec, models: dict[str, ModelSpec], service_key: str = ""
) -> BuildContext:
    """Render one service's build context from its (validated) config."""
    env = service.environment
    key = service_key or f"modelstack:services.{service_name}"
    placed = place_models({name: (project_dir / models[name].path).resolve() for name in service.models})
    source_files, entry_script = _source_files(project_dir, service)
    environment_files: dict[str, str] = {}
    requirements_digest = None
    env_key = f"{key}.environment"
    if env.conda_file:
        environment_files["conda.yml"] = render_conda_file(
            _config_file(project_dir, env.conda_file, f"{env_key}.conda_file", "the conda file"),
            f"{env_key}.conda_file",
            service.scoring_server,
        )
    else:
        user = (
            _config_file(project_dir, env.pip_requirements, f"{env_key}.pip_requirements", "the pip requirements file")
            if env.pip_requirements
            else ""
        )
        environment_files["requirements.txt"] = render_requirements(user, service.scoring_server)
        requirements_digest = hashlib.sha256(environment_files["requirements.txt"].encode()).hexdigest()[:TAG_LENGTH]
    extra_steps = (
        _config_file(
            project_dir,
            env.extra_docker_file_steps,
            f"{env_key}.extra_docker_file_steps",
            "the file of extra Dockerfile steps",
        ).strip()
        if env.extra_docker_file_steps
        else ""
    )
    base_image = base_image_reference(env)
    dockerfile = render_dockerfile(
        service_name=service_name,
        base_image=base_image,
        runtime_image=runtime_base_image(base_image),
        conda_file=bool(env.conda_file),
        enable_gpu=env.enable_gpu,
        extra_docker_file_steps=extra_steps,
        app_root=APP_ROOT,
        models_root=MODELS_ROOT,
        model_dir=azureml_model_dir(placed),
        entry_script=entry_script,
        scoring_server=service.scoring_server,
        server_module=SERVER_MODULES[service.scoring_server],
        port=contract.PORT,
        user_id=contract.IMAGE_USER_ID,
    )
    files = {name: source.read_text() for name, source in support_files(service.scoring_server).items()}
    context = BuildContext(
        service_name, dockerfile, environment_files, files, source_files, placed, base_image, requirements_digest
    )
    return BuildContext(**{**context.__dict__, "digest": _digest(context)})


def _context_entries(context: BuildContext, wheelhouse: Path | None) -> list[tuple[str, Path | bytes]]:
    entries: list[tuple[str, Path | bytes]] = [("Dockerfile", context.dockerfile.encode())]
    entries += [(name, text.encode()) for name, text in sorted(context.environment_files.items())]
    entries += [(name, text.encode()) for name, text in sorted(context.support_files.items())]
    if "requirements.txt" in context.environment_files:
        if wheelhouse is None:
            raise ValueError("a pip environment needs its wheelhouse")
        entries += [(f"wheelhouse/{f.name}", f) for f in sorted(wheelhouse.iterdir()) if f.is_file()]
    entries += [(f"src/{name}", path) for name, path in sorted(context.source_files.items())]
    entries += [(f"models/{name}", path) for name, path in sorted(context.model_files().items())]
    return entries


def _own_folder(out: Path, relative: Path) -> Path:
    """The folder `relative` below `out`, made of real folders: a link in its place (with
    --force, the folder may hold anything) is removed, never followed out of `out`."""
    folder = out
    for part in relative.parts:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            folder.unlink()
        folder.mkdir(exist_ok=True)
    return folder


def _write_file(target: Path, data: bytes | None = None, *, copy_of: Path | None = None, read_error=None) -> None:
    """Write `data` (or a copy of the file `copy_of`, streamed) to `target` itself: a link of
    that name is replaced, never written through."""
    source = None
    if copy_of is not None:
        try:
            source = open(copy_of, "rb")
        except OSError as exc:
            raise read_error(exc) from None
    try:
        if target.is_symlink():
            target.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        with os.fdopen(os.open(target, flags, 0o644), "wb") as handle:
            if source is None:
                assert data is not None, "_write_file takes data or copy_of"
                handle.write(data)
            else:
                shutil.copyfileobj(source, handle)
    finally:
        if source is not None:
            source.close()


def _read_error(context: BuildContext, name: str, source: Path):
    """A project file copied into the context that cannot be read is the project's problem
    (its source_directory or model), not the output folder's."""
    setting = (
        "source_directory" if name.startswith("src/") else "models" if name.startswith("models/") else "environment"
    )

    def error(exc: OSError) -> ConfigError:
        return ConfigError(
            f"cannot read {source}: {exc.strerror or exc}",
            key=f"modelstack:services.{context.service_name}.{setting}",
            rule="the files of a service's source_directory and models are readable regular files",
            fix="check the file's permissions, or that it was not removed while packaging",
        )

    return error


def write_context(context: BuildContext, out: Path, wheelhouse: Path | None) -> list[str]:
    """Write the build context to a folder (`modelstack package`); returns what was written.
    Nothing is written through a link found in `out` (with --force it may hold anything)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, source in _context_entries(context, wheelhouse):
        relative = Path(name)
        folder = _own_folder(out, relative.parent)
        if isinstance(source, bytes):
            _write_file(folder / relative.name, source)
        else:
            _write_file(folder / relative.name, copy_of=source, read_error=_read_error(context, name, source))
        written.append(name)
    manifest = {
        "service": context.service_name,
        "tag": context.tag,
        "base_image": context.base_image,
        "model_versions": context.model_versions,
    }
    _write_file(out / "modelstack-context.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return written


def context_tarball(context: BuildContext, wheelhouse: Path | None) -> io.BytesIO:
    """The build context as the tar stream the Docker API takes; file times fixed at 0."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, source in _context_entries(context, wheelhouse):
            data = source if isinstance(source, bytes) else source.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer

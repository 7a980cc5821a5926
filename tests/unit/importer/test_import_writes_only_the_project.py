"""`modelstack import` writes only under the project: stack names are checked by the rule every
command uses, `--copy-outside` never follows a link out of the copied folder, the copy is bounded,
and a failed import leaves the project and everything around it byte-identical."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

# the rule every command checks stack names by (components.config.load.STACK_NAME_RULE)
STACK_NAME_RULE = "a stack's name is 1-100 letters, digits, '_', '.' and '-'"

ARGS = ("inferenceconfig.json", "deploymentconfig-local.json", "--service", "myservice")


def tree(root: Path) -> dict[str, str]:
    """Every entry under root, links and empty folders included, by kind and content."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder) / name
            info = os.lstat(path)
            relative = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                found[relative] = f"link {os.readlink(path)}"
            elif stat.S_ISREG(info.st_mode):
                found[relative] = "file " + hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISDIR(info.st_mode):
                found[relative] = "folder"
            else:
                found[relative] = f"special {stat.S_IFMT(info.st_mode)}"
    return found


@pytest.fixture
def around(workspace, tmp_path):
    """The whole temporary tree: the project and what lies outside it."""
    return tmp_path


# --- stack names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stack",
    ["x/../../../outside/evil", "../../outside/evil", "/tmp/evil", "", "My Stack", "local\n", "a" * 101],
)
def test_a_stack_name_that_breaks_the_rule_is_usage_and_writes_nothing(workspace, around, stack):
    (workspace.root / "stacks" / "Pulumi.x").mkdir()  # the folder that let a traversal through
    (around / "outside").mkdir()
    before = tree(around)
    result = workspace.run(*ARGS, "--stack", stack, "--model", "sklearn_mnist=outputs/sklearn_mnist_model.pkl")
    assert result.exit_code == 2, result.output
    assert "--stack: stack name" in result.output and STACK_NAME_RULE in result.output
    assert "Fix: " in result.output and "Traceback" not in result.output
    assert "permissions and free space" not in result.output
    assert tree(around) == before


def test_check_refuses_the_same_stack_names_by_the_same_rule(workspace):
    from typer.testing import CliRunner

    from components.commands.cli import app

    result = CliRunner().invoke(
        app,
        ["check", "--stack", "x/../../../outside/evil"],
        env={"MODELSTACK_PROJECT_DIR": str(workspace.root), "COLUMNS": "300"},
    )
    assert result.exit_code == 2, result.output
    assert "--stack: stack name" in result.output and STACK_NAME_RULE in result.output


@pytest.mark.parametrize("stack", ["local", "e2e-import_1", "prod.eu"])
def test_stack_names_pulumi_allows_pass_the_rule(stack):
    from components.config.load import stack_file, stack_name_error

    assert stack_name_error(stack) is None
    assert stack_file(Path("/p"), stack) == Path(f"/p/stacks/Pulumi.{stack}.yaml")


def test_a_project_without_its_stacks_folder_is_told_so_and_left_as_it_was(workspace, around):
    import shutil

    outside = around / "elsewhere"
    outside.mkdir()
    (outside / "model.pkl").write_bytes((workspace.seed / "outputs" / "sklearn_mnist_model.pkl").read_bytes())
    shutil.rmtree(workspace.root / "stacks")
    before = tree(around)
    result = workspace.run(
        *ARGS, "--stack", "local", "--model", f"sklearn_mnist={outside / 'model.pkl'}", "--copy-outside"
    )
    assert result.exit_code == 1, result.output
    assert "No such file or directory" in result.output and "stacks/" in result.output
    assert "permissions and free space" not in result.output
    assert tree(around) == before


# --- --copy-outside ------------------------------------------------------------------------------


@pytest.fixture
def model_folder(workspace, around) -> Path:
    """A model folder outside the project, as Azure ML's outputs/ are."""
    folder = around / "elsewhere" / "model"
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes((workspace.seed / "outputs" / "sklearn_mnist_model.pkl").read_bytes())
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_text("trained on the diabetes data\n")
    return folder


def _import_folder(workspace, folder: Path, *extra: str):
    return workspace.run(*ARGS, "--stack", "local", "--model", f"sklearn_mnist={folder}", "--copy-outside", *extra)


def _refused(workspace, around, folder: Path, *expected: str) -> None:
    before = tree(around)
    result = _import_folder(workspace, folder)
    assert result.exit_code == 1, result.output
    assert "nothing was imported" in result.output and "Traceback" not in result.output
    for text in expected:
        assert text in result.output, result.output
    assert "Rule: --copy-outside copies a folder's own files" in result.output
    assert tree(around) == before  # the project and everything outside it


def test_a_link_to_a_file_outside_the_folder_is_refused(workspace, around, model_folder):
    secret = around / "secret"
    secret.mkdir()
    (secret / "hostname").write_text("not for the image\n")
    (model_folder / "sub" / "hostname").symlink_to(secret / "hostname")
    _refused(workspace, around, model_folder, f"{model_folder}/sub/hostname links to {secret / 'hostname'}")


def test_a_link_to_a_folder_outside_the_folder_is_refused(workspace, around, model_folder):
    secret = around / "secrets"
    (secret / "deep").mkdir(parents=True)
    for index in range(20):
        (secret / "deep" / f"key{index}").write_text("private\n")
    (model_folder / "config").symlink_to(secret)
    _refused(workspace, around, model_folder, f"{model_folder}/config links to {secret}, outside the folder")


@pytest.mark.parametrize("loop", ["self", "pair", "parent"])
def test_a_symlink_loop_is_refused(workspace, around, model_folder, loop):
    if loop == "self":
        (model_folder / "loop").symlink_to("loop")
    elif loop == "pair":
        (model_folder / "a").symlink_to("b")
        (model_folder / "b").symlink_to("a")
    else:
        (model_folder / "sub" / "up").symlink_to("..")
    _refused(workspace, around, model_folder, "symlink loop")


def test_a_fifo_in_the_folder_is_refused_without_blocking(workspace, around, model_folder):
    os.mkfifo(model_folder / "sub" / "pipe")
    _refused(workspace, around, model_folder, f"{model_folder}/sub/pipe is a fifo")


def test_a_dangling_link_is_refused(workspace, around, model_folder):
    (model_folder / "gone").symlink_to(model_folder / "never-there")
    _refused(workspace, around, model_folder, f"{model_folder}/gone is a dangling link")


def test_a_device_named_as_the_model_is_refused(workspace, around):
    before = tree(around)
    result = _import_folder(workspace, Path("/dev/null"))
    assert result.exit_code == 1 and "/dev/null is a device" in result.output, result.output
    assert tree(around) == before


def test_links_that_stay_inside_the_folder_are_copied_as_their_targets(workspace, around, model_folder):
    (model_folder / "alias.pkl").symlink_to("model.pkl")
    (model_folder / "docs").symlink_to("sub")
    (model_folder / "sub" / "back.pkl").symlink_to("../model.pkl")
    before_outside = tree(around / "elsewhere")
    result = _import_folder(workspace, model_folder)
    assert result.exit_code == 0, result.output
    copy = workspace.root / "azureml-import" / "myservice" / "model"
    model = (model_folder / "model.pkl").read_bytes()
    for path, content in {
        "model.pkl": model,
        "alias.pkl": model,
        "sub/back.pkl": model,
        "sub/notes.txt": b"trained on the diabetes data\n",
        "docs/notes.txt": b"trained on the diabetes data\n",
    }.items():
        assert not (copy / path).is_symlink() and (copy / path).read_bytes() == content, path
    assert not (copy / "docs").is_symlink() and (copy / "docs").is_dir()
    assert not any(p.is_symlink() for p in copy.rglob("*"))
    assert tree(around / "elsewhere") == before_outside


# --- bounds and leftovers ------------------------------------------------------------------------


def test_the_number_of_files_copied_is_bounded(workspace, around, model_folder, monkeypatch):
    from components.importer import copying

    monkeypatch.setattr(copying, "MAX_FILES", 3)
    for index in range(5):
        (model_folder / f"part{index}").write_text("x")
    before = tree(around)
    result = _import_folder(workspace, model_folder)
    assert result.exit_code == 1 and "more than 3 files to copy" in result.output, result.output
    assert "copies at most 3 files" in result.output
    assert tree(around) == before


def test_the_bytes_copied_are_bounded(workspace, around, model_folder, monkeypatch):
    from components.importer import copying

    monkeypatch.setattr(copying, "MAX_BYTES", 1000)
    (model_folder / "sub" / "weights.bin").write_bytes(b"w" * 2000)
    before = tree(around)
    result = _import_folder(workspace, model_folder)
    assert result.exit_code == 1 and "more than 1,000 bytes to copy" in result.output, result.output
    assert tree(around) == before


def test_a_copy_that_fails_half_way_leaves_nothing_behind(workspace, around, model_folder, monkeypatch):
    """A folder that changed after it was surveyed (a fifo appeared late in it): the copy stops
    there, and the files it had already copied are removed."""
    from components.importer import placing

    for index in range(30):
        (model_folder / f"a{index:02}").write_text("x")
    os.mkfifo(model_folder / "zz-pipe")
    monkeypatch.setattr(placing.copying, "survey", lambda *args: None)
    before = tree(around)
    result = _import_folder(workspace, model_folder)
    assert result.exit_code == 1 and f"{model_folder}/zz-pipe is a fifo" in result.output, result.output
    assert tree(around) == before


def test_a_failed_validation_removes_the_copies(workspace, around, model_folder):
    """The copies are in place while the result is validated: a refusal then removes them."""
    (workspace.seed / "deploymentconfig-bad.json").write_text('{"computeType": "local", "port": 70000}')
    before = tree(around)
    result = workspace.run(
        "inferenceconfig.json",
        "deploymentconfig-bad.json",
        "--service",
        "myservice",
        "--stack",
        "local",
        "--model",
        f"sklearn_mnist={model_folder}",
        "--copy-outside",
    )
    assert result.exit_code == 1 and "deploy.port" in result.output, result.output
    assert tree(around) == before

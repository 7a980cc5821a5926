"""The shell scripts' decisions, run in bash with chosen environments: which Pulumi settings
scripts/pulumi-env.sh makes (and what it refuses), which Debian mirror scripts/build-base-image.sh
takes, and that the project's files name no package registry's host."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from components.errors import ModelstackError

REPO = Path(__file__).resolve().parents[2]
ENV_SCRIPT = REPO / "scripts" / "pulumi-env.sh"
BASE_IMAGE_SCRIPT = REPO / "scripts" / "build-base-image.sh"
LOCAL_STATE = f"file://{REPO / '.modelstack' / 'state'}"
LOCAL_HOME = str(REPO / ".modelstack" / "pulumi-home")
TOOLS_BIN = str(REPO / ".tools" / "bin")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
REFUSED = "pulumi-env: refused (nothing was set): "
KEY_VAULT = "azurekeyvault://team-vault.vault.azure.net/keys/pulumi"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_sourced(env: dict[str, str], *args: str, script: Path = ENV_SCRIPT) -> subprocess.CompletedProcess:
    """`. scripts/pulumi-env.sh ARGS` in a bash started with exactly `env`; stdout holds the
    environment afterwards (NUL-separated) whether or not it refused, and its exit status."""
    quoted = " ".join(f"'{a}'" for a in args)
    return subprocess.run(
        ["bash", "-c", f'. "{script}" {quoted}; status=$?; env -0; exit $status', "bash"],
        env={"PATH": SYSTEM_PATH, **env},
        capture_output=True,
        timeout=30,
    )


def variables(done: subprocess.CompletedProcess) -> dict[str, str]:
    return dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)


def sourced(env: dict[str, str], *args: str, script: Path = ENV_SCRIPT) -> tuple[dict[str, str], str]:
    """The environment after sourcing, which must not have refused."""
    done = run_sourced(env, *args, script=script)
    assert done.returncode == 0, done.stderr.decode()
    return variables(done), done.stderr.decode()


def login(home: Path, current: str) -> None:
    """What `pulumi login` leaves in ~/.pulumi/credentials.json."""
    (home / ".pulumi").mkdir(parents=True, exist_ok=True)
    (home / ".pulumi" / "credentials.json").write_text(
        json.dumps({"current": current, "accessTokens": {current: "pul-xyz"}, "accounts": {}}, indent=4)
    )


def passphrase_file(tmp_path: Path, text: str = "correct horse battery staple\n") -> str:
    path = tmp_path / "secret-store" / "passphrase"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return str(path)


def assert_local(env: dict[str, str]) -> None:
    assert env["MODELSTACK_PULUMI_MODE"] == "local"
    assert env["PATH"].split(":")[0] == TOOLS_BIN
    assert env["PULUMI_BACKEND_URL"] == LOCAL_STATE
    assert env["PULUMI_SKIP_UPDATE_CHECK"] == "true"
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"


def assert_untouched(env: dict[str, str]) -> None:
    assert env["MODELSTACK_PULUMI_MODE"] == "user"
    assert env["PATH"] == f"{SYSTEM_PATH}:{TOOLS_BIN}", "a pulumi of the user's own still comes first"
    for name in (
        "PULUMI_HOME",
        "PULUMI_SKIP_UPDATE_CHECK",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
        "PULUMI_CONFIG_PASSPHRASE",
    ):
        assert name not in env, name


@pytest.mark.parametrize("stack", ["local", "e2e", "e2e-staging", "e2e_import"])
def test_the_throwaway_stacks_get_the_local_settings_and_the_empty_passphrase(tmp_path, stack):
    env, stderr = sourced({"HOME": str(tmp_path)}, stack)
    assert_local(env)
    assert env["PULUMI_HOME"] == LOCAL_HOME
    assert env["PULUMI_CONFIG_PASSPHRASE"] == ""
    assert stderr == (
        f"pulumi-env: stack {stack}: state backend {LOCAL_STATE} "
        "(from the local default: the local and e2e stacks keep their state in the project)\n"
    )


def test_no_stack_named_gets_the_local_settings_but_no_passphrase(tmp_path):
    env, stderr = sourced({"HOME": str(tmp_path)})
    assert_local(env)
    assert "PULUMI_CONFIG_PASSPHRASE" not in env
    assert "no stack named, so no passphrase is set" in stderr


@pytest.mark.parametrize("stack", ["prod", "dev", "cluster", "a-new-stack"])
def test_a_stack_that_is_not_throwaway_is_refused_without_a_passphrase(tmp_path, stack):
    """Refused with the key, the rule and the fix; the shell's environment and variables are as
    they were, and nothing is written (a copy of the script in a scratch project, so its
    .modelstack/ would show a write)."""
    root = scratch_project(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    snapshot = 'declare -p | grep -v "^declare -[-a-zA-Z]* \\(BASH_\\|_=\\|PIPESTATUS\\|FUNCNAME\\)"; declare -F'
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'{snapshot} > "$0/before"; . "{root}/scripts/pulumi-env.sh" {stack}; status=$?; '
            f'{snapshot} > "$0/after"; exit $status',
            str(tmp_path),
        ],
        env={"PATH": SYSTEM_PATH, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    said = done.stderr
    assert said.startswith(f"{REFUSED}PULUMI_CONFIG_PASSPHRASE: neither PULUMI_CONFIG_PASSPHRASE nor"), said
    assert f"stack {stack}'s secrets would be encrypted with the empty passphrase" in said
    assert "Rule: only the throwaway stacks (local, e2e, e2e-*, e2e_*) use the empty passphrase" in said
    assert "Fix: export PULUMI_CONFIG_PASSPHRASE_FILE=" in said
    assert f"pulumi stack change-secrets-provider --stack {stack} 'azurekeyvault://" in said
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text(), "the shell is as it was"
    assert not (root / ".modelstack").exists() and list(home.iterdir()) == [], "nothing is written"


@pytest.mark.parametrize("stack", ["prod", "dev", "cluster", "a-new-stack"])
def test_a_passphrase_file_lets_any_stack_through(tmp_path, stack):
    secret = passphrase_file(tmp_path)
    env, stderr = sourced({"HOME": str(tmp_path), "PULUMI_CONFIG_PASSPHRASE_FILE": secret}, stack)
    assert_local(env)
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == secret and "PULUMI_CONFIG_PASSPHRASE" not in env
    assert stderr == (
        f"pulumi-env: stack {stack}: state backend {LOCAL_STATE} "
        "(from the local default: no PULUMI_BACKEND_URL and no pulumi login)\n"
    )


@pytest.mark.parametrize(
    ("settings", "key", "detail"),
    [
        ({"PULUMI_CONFIG_PASSPHRASE": ""}, "PULUMI_CONFIG_PASSPHRASE", "is set to the empty passphrase for stack prod"),
        (
            {"PULUMI_CONFIG_PASSPHRASE": "", "PULUMI_CONFIG_PASSPHRASE_FILE": "FILE"},
            "PULUMI_CONFIG_PASSPHRASE",
            "the engine reads it before PULUMI_CONFIG_PASSPHRASE_FILE",
        ),
        ({"PULUMI_CONFIG_PASSPHRASE_FILE": "BLANK"}, "PULUMI_CONFIG_PASSPHRASE_FILE", "missing, unreadable or empty"),
        ({"PULUMI_CONFIG_PASSPHRASE_FILE": "/no/such/file"}, "PULUMI_CONFIG_PASSPHRASE_FILE", "names /no/such/file"),
    ],
    ids=["empty", "empty-beside-a-file", "blank-file", "missing-file"],
)
def test_an_empty_passphrase_in_any_form_is_refused(tmp_path, settings, key, detail):
    files = {"FILE": passphrase_file(tmp_path), "BLANK": passphrase_file(tmp_path, " \n\t\n")}
    env = {"HOME": str(tmp_path), **{k: files.get(v, v) for k, v in settings.items()}}
    done = run_sourced(env, "prod")
    assert done.returncode == 1
    assert done.stderr.decode().startswith(f"{REFUSED}{key}: "), done.stderr.decode()
    assert detail in done.stderr.decode()
    assert "MODELSTACK_PULUMI_MODE" not in variables(done)


def test_a_real_passphrase_in_the_variable_is_accepted(tmp_path):
    env, _ = sourced({"HOME": str(tmp_path), "PULUMI_CONFIG_PASSPHRASE": "mine"}, "staging")
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "mine"


def test_a_stack_on_a_key_vault_needs_no_passphrase(tmp_path):
    root = scratch_project(tmp_path)
    env, stderr = sourced({"HOME": str(tmp_path)}, "vaulted", script=root / "scripts" / "pulumi-env.sh")
    assert env["MODELSTACK_PULUMI_MODE"] == "local" and "PULUMI_CONFIG_PASSPHRASE" not in env
    assert "refused" not in stderr


@pytest.mark.parametrize("stack", [(), ("dev",), ("prod",)])
def test_a_pulumi_login_is_respected(tmp_path, stack):
    login(tmp_path, "https://api.example.com")
    env, stderr = sourced({"HOME": str(tmp_path)}, *stack)
    assert_untouched(env)
    assert "PULUMI_BACKEND_URL" not in env
    assert f"state backend https://api.example.com (from pulumi login in {tmp_path}/.pulumi/credentials.json)" in stderr


def test_a_login_under_the_users_pulumi_home_counts(tmp_path):
    login(tmp_path / "elsewhere", "s3://bucket/state")
    env, _ = sourced(
        {
            "HOME": str(tmp_path),
            "PULUMI_HOME": str(tmp_path / "elsewhere" / ".pulumi"),
            "PULUMI_CONFIG_PASSPHRASE_FILE": passphrase_file(tmp_path),
        },
        "staging",
    )
    assert env["MODELSTACK_PULUMI_MODE"] == "user"
    assert env["PULUMI_HOME"] == str(tmp_path / "elsewhere" / ".pulumi"), "the user's plugins stay where they are"
    assert "PULUMI_BACKEND_URL" not in env


def test_credentials_without_a_current_backend_are_no_login(tmp_path):
    (tmp_path / ".pulumi").mkdir()
    (tmp_path / ".pulumi" / "credentials.json").write_text('{"current": "", "accessTokens": {}}')
    env, _ = sourced({"HOME": str(tmp_path)}, "local")
    assert_local(env)


def test_the_users_backend_url_is_respected(tmp_path):
    secret = passphrase_file(tmp_path)
    env, stderr = sourced(
        {
            "HOME": str(tmp_path),
            "PULUMI_BACKEND_URL": "azblob://state",
            "AZURE_STORAGE_ACCOUNT": "teamstate",
            "PULUMI_CONFIG_PASSPHRASE_FILE": secret,
        },
        "prod",
    )
    assert_untouched(env)
    assert env["PULUMI_BACKEND_URL"] == "azblob://state" and env["PULUMI_CONFIG_PASSPHRASE_FILE"] == secret
    assert stderr == "pulumi-env: stack prod: state backend azblob://state (from PULUMI_BACKEND_URL)\n"


def test_an_azblob_login_without_a_storage_account_is_refused_before_the_engine(tmp_path):
    """A login left by another project: the engine alone would only say go-cloud's
    'Options.AccountName is required'."""
    login(tmp_path, "azblob://other-project-state")
    done = run_sourced({"HOME": str(tmp_path), "PULUMI_CONFIG_PASSPHRASE_FILE": passphrase_file(tmp_path)}, "cluster")
    said = done.stderr.decode()
    assert done.returncode == 1
    assert said.startswith(
        f"{REFUSED}AZURE_STORAGE_ACCOUNT: the state backend azblob://other-project-state "
        f"(from pulumi login in {tmp_path}/.pulumi/credentials.json) names no storage account"
    ), said
    assert "Options.AccountName is required" in said and "export AZURE_STORAGE_ACCOUNT=" in said
    assert "MODELSTACK_PULUMI_MODE" not in variables(done)


@pytest.mark.parametrize(
    "account",
    [
        {"AZURE_STORAGE_ACCOUNT": "teamstate"},
        {"PULUMI_BACKEND_URL": "azblob://state?storage_account=teamstate"},
        {"AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=teamstate;AccountKey=k"},
    ],
    ids=["variable", "url", "connection-string"],
)
def test_a_storage_account_from_anywhere_the_engine_reads_it_is_enough(tmp_path, account):
    env = {"HOME": str(tmp_path), "PULUMI_CONFIG_PASSPHRASE_FILE": passphrase_file(tmp_path), **account}
    env.setdefault("PULUMI_BACKEND_URL", "azblob://state")
    assert sourced(env, "prod")[0]["MODELSTACK_PULUMI_MODE"] == "user"


def test_a_password_in_a_backend_url_is_not_shown(tmp_path):
    env = {
        "HOME": str(tmp_path),
        "PULUMI_BACKEND_URL": "postgres://team:hunter2@db.example.com/state",
        "PULUMI_CONFIG_PASSPHRASE_FILE": passphrase_file(tmp_path),
    }
    _, stderr = sourced(env, "prod")
    assert "hunter2" not in stderr and "postgres://team:***@db.example.com/state" in stderr


@pytest.mark.parametrize("stack", ["local", "e2e", "e2e-staging"])
def test_the_local_stacks_always_get_the_local_backend(tmp_path, stack):
    login(tmp_path, "https://api.example.com")
    env, stderr = sourced(
        {"HOME": str(tmp_path), "PULUMI_BACKEND_URL": "azblob://state", "PULUMI_HOME": str(tmp_path / "ph")}, stack
    )
    assert_local(env)
    assert env["MODELSTACK_USER_PULUMI_BACKEND_URL"] == "azblob://state"
    assert "your PULUMI_BACKEND_URL is kept in MODELSTACK_USER_PULUMI_BACKEND_URL" in stderr
    assert env["PULUMI_HOME"] == str(tmp_path / "ph"), "a PULUMI_HOME the user set is kept"


def test_the_users_own_choices_win_in_local_mode(tmp_path):
    env, _ = sourced(
        {
            "HOME": str(tmp_path),
            "PULUMI_CONFIG_PASSPHRASE": "mine",
            "PULUMI_SKIP_UPDATE_CHECK": "false",
            "MODELSTACK_STACK": "local",
        }
    )
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "mine" and env["PULUMI_SKIP_UPDATE_CHECK"] == "false"
    assert env["PULUMI_BACKEND_URL"] == LOCAL_STATE


def test_sourcing_twice_adds_tools_bin_once(tmp_path):
    done = subprocess.run(
        ["bash", "-c", f'. "{ENV_SCRIPT}" local; . "{ENV_SCRIPT}" local; echo "$PATH"'],
        env={"PATH": SYSTEM_PATH, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.strip().split(":").count(TOOLS_BIN) == 1


# The modelstack CLI (drift, promote, token, logs) reaches the engine with the same settings as
# the shell, refuses what it refuses with the same words, and names the same backend.
SETTINGS = (
    "MODELSTACK_PULUMI_MODE",
    "PATH",
    "PULUMI_BACKEND_URL",
    "PULUMI_HOME",
    "PULUMI_SKIP_UPDATE_CHECK",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_CONFIG_PASSPHRASE_FILE",
)


def scratch_project(tmp_path: Path) -> Path:
    """The script and the example stack files in a project of their own, with two more stacks:
    `vaulted` (its secrets in a key vault) and `salted` (a passphrase salt, no provider named)."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ENV_SCRIPT, root / "scripts" / "pulumi-env.sh")
    shutil.copytree(REPO / "stacks", root / "stacks")
    (root / "stacks" / "Pulumi.vaulted.yaml").write_text(
        f"secretsprovider: '{KEY_VAULT}'  # the team's vault\nencryptedkey: ZXhhbXBsZQ==\nconfig: {{}}\n"
    )
    (root / "stacks" / "Pulumi.salted.yaml").write_text(
        'encryptionsalt: "v1:rfGrfNDhtBY=:v1:D12S5mHs0NHrie5+:E18FGbyVyKMwPQpB65CB9esuNYlCvg=="\nconfig: {}\n'
    )
    return root


def environment(tmp_path, case: str) -> dict[str, str]:
    env = {"HOME": str(tmp_path), "PATH": SYSTEM_PATH}
    if case == "pulumi login":
        login(tmp_path, "https://api.example.com")
    elif case == "azblob login without an account":
        login(tmp_path, "azblob://other-project")
    elif case == "backend URL":
        env.update(PULUMI_BACKEND_URL="azblob://state", AZURE_STORAGE_ACCOUNT="teamstate")
    elif case == "passphrase file":
        env.update(PULUMI_BACKEND_URL="s3://bucket", PULUMI_CONFIG_PASSPHRASE_FILE=passphrase_file(tmp_path))
    elif case == "empty passphrase":
        env["PULUMI_CONFIG_PASSPHRASE"] = ""
    elif case == "empty passphrase beside a file":
        env.update(PULUMI_CONFIG_PASSPHRASE="", PULUMI_CONFIG_PASSPHRASE_FILE=passphrase_file(tmp_path))
    elif case == "blank passphrase file":
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = passphrase_file(tmp_path, "\n")
    elif case == "own home":
        env["PULUMI_HOME"] = str(tmp_path / "ph")
    return env


CASES = [
    "nothing set",
    "pulumi login",
    "azblob login without an account",
    "backend URL",
    "passphrase file",
    "empty passphrase",
    "empty passphrase beside a file",
    "blank passphrase file",
    "own home",
]
STACKS = ["local", "e2e-staging", "dev", "prod", "vaulted", "salted"]


def refusal_expected(stack: str, case: str) -> str | None:
    """The key each case is refused on, said independently of either implementation."""
    if stack in ("local", "e2e-staging"):
        return None
    if case == "azblob login without an account":
        return "AZURE_STORAGE_ACCOUNT"
    if stack == "vaulted" or case == "passphrase file" or (case == "pulumi login" and stack != "salted"):
        return None
    return "PULUMI_CONFIG_PASSPHRASE_FILE" if case == "blank passphrase file" else "PULUMI_CONFIG_PASSPHRASE"


def cli(root: Path, stack: str, env: dict[str, str]) -> tuple[dict[str, str] | None, str]:
    """What a modelstack command that reaches state does: its environment, or None when refused,
    and what it says on stderr."""
    from components.commands.engine import _announced, reach_state

    _announced.clear()
    said: list[str] = []
    try:
        return reach_state(root, stack, env, say=said.append), "".join(f"{line}\n" for line in said)
    except ModelstackError as error:
        return None, f"{error}\n"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("case", CASES)
def test_the_cli_and_the_shell_agree_on_every_setting(tmp_path, stack, case):
    root = scratch_project(tmp_path)
    env = environment(tmp_path, case)
    done = run_sourced(env, stack, script=root / "scripts" / "pulumi-env.sh")
    shell, shell_said = variables(done), done.stderr.decode()
    settings, cli_said = cli(root, stack, env)
    key = refusal_expected(stack, case)
    if key is not None:
        assert done.returncode == 1 and settings is None
        assert shell_said == f"{REFUSED}{cli_said}", "the same words"
        assert cli_said.startswith(f"{key}: ")
        return
    assert done.returncode == 0, shell_said
    assert settings is not None, cli_said
    local = stack in ("local", "e2e-staging") or case not in ("pulumi login", "backend URL", "passphrase file")
    assert settings["MODELSTACK_PULUMI_MODE"] == ("local" if local else "user")
    expected = {k: shell.get(k) for k in SETTINGS}
    expected_said = shell_said.replace("pulumi-env: ", "modelstack: ", 1)
    if local and env.get("PULUMI_BACKEND_URL"):
        # sourced for a throwaway stack, the script replaces the user's URL; the CLI keeps what the
        # shell it runs in has (in a shell that sourced the script, that is the local one: below)
        expected["PULUMI_BACKEND_URL"] = env["PULUMI_BACKEND_URL"]
        expected_said = (
            f"modelstack: stack {stack}: state backend {env['PULUMI_BACKEND_URL']} (from PULUMI_BACKEND_URL)\n"
        )
    assert {k: settings.get(k) for k in SETTINGS} == expected
    assert cli_said == expected_said.splitlines(keepends=True)[0]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("case", CASES)
def test_the_cli_in_a_shell_that_sourced_the_script_changes_nothing(tmp_path, stack, case):
    root = scratch_project(tmp_path)
    if refusal_expected(stack, case):
        return  # nothing was sourced: the test above
    shell, said = sourced(environment(tmp_path, case), stack, script=root / "scripts" / "pulumi-env.sh")
    settings, cli_said = cli(root, stack, shell)
    assert settings is not None, cli_said
    assert {k: settings.get(k) for k in SETTINGS} == {k: shell.get(k) for k in SETTINGS}
    assert cli_said == said.splitlines(keepends=True)[0].replace("pulumi-env: ", "modelstack: ", 1)


def test_after_sourcing_for_the_local_stack_another_stack_is_refused(tmp_path):
    """The local stack's empty passphrase, left in the shell, does not reach `modelstack drift
    --stack prod` or a second `. scripts/pulumi-env.sh prod`."""
    shell, _ = sourced({"HOME": str(tmp_path)}, "local")
    assert shell["PULUMI_CONFIG_PASSPHRASE"] == ""
    settings, said = cli(REPO, "prod", shell)
    assert settings is None and said.startswith("PULUMI_CONFIG_PASSPHRASE: is set to the empty passphrase")
    assert run_sourced(shell, "prod").returncode == 1


# --- the Debian mirror of scripts/build-base-image.sh ----------------------------------------


def mirror(apt: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(BASE_IMAGE_SCRIPT), "--print-mirror"],
        env={"PATH": SYSTEM_PATH, "MODELSTACK_APT_DIR": str(apt), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def apt_dir(tmp_path: Path, sources_list: str = "", **parts: str) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text(sources_list)
    for name, text in parts.items():
        (apt / "sources.list.d" / name.replace("_", ".")).write_text(text)
    return apt


@pytest.mark.parametrize(
    ("sources_list", "parts", "expected"),
    [
        ("deb http://mirror.test/debian bookworm main\n", {}, "http://mirror.test/debian"),
        (
            "# deb http://commented.test/debian bookworm main\ndeb [arch=amd64 trusted=yes signed-by=/k.gpg] http://opts.test/debian/ bookworm main\n",
            {},
            "http://opts.test/debian",
        ),
        (
            "deb-src http://src.test/debian bookworm main\ndeb http://security.test/debian-security bookworm-security main\n",
            {"x_list": "deb http://listd.test/debian bookworm main\n"},
            "http://listd.test/debian",
        ),
        (
            "",
            {
                "debian_sources": "Types: deb-src\nURIs: http://src-only.test/debian\nSuites: bookworm\n\n"
                "Types: deb\nURIs: http://off.test/debian\nSuites: bookworm\nEnabled: no\n\n"
                "Types: deb deb-src\n# a comment\nURIs: http://deb822.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
            },
            "http://deb822.test/debian",
        ),
    ],
)
def test_the_mirror_comes_from_apts_configuration(tmp_path, sources_list, parts, expected):
    done = mirror(apt_dir(tmp_path, sources_list, **parts))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{expected}\t(from apt's configuration in {tmp_path / 'apt'})\n"


def test_the_users_mirror_wins(tmp_path):
    done = mirror(
        apt_dir(tmp_path, "deb http://mirror.test/debian bookworm main\n"),
        MODELSTACK_DEBIAN_MIRROR="http://mine.test/debian/",
    )
    assert done.stdout == "http://mine.test/debian\t(from MODELSTACK_DEBIAN_MIRROR)\n"


@pytest.mark.parametrize(
    "sources_list",
    [
        "",
        "deb http://security.test/debian-security bookworm-security main\ndeb http://archive.test/ubuntu jammy main\n",
    ],
)
def test_no_mirror_anywhere_fails_clearly(tmp_path, sources_list):
    done = mirror(apt_dir(tmp_path, sources_list))
    assert done.returncode == 1 and done.stdout == ""
    assert (
        "error: no Debian mirror: apt's configuration" in done.stderr
        and "Fix: MODELSTACK_DEBIAN_MIRROR=" in done.stderr
    )


# --- no registry host in the project's files ---------------------------------------------------

REGISTRY_HOSTS = (
    "deb.debian.org",
    "ftp.debian.org",
    "security.debian.org",
    "pypi.org",
    "pythonhosted.org",
    "proxy.golang.org",
    "sum.golang.org",
    "registry.npmjs.org",
    "registry.yarnpkg.com",
)


def test_the_project_names_no_package_registry_host():
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs the git checkout")
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    )
    found = []
    for name in files:
        path = REPO / name
        if (
            not name
            or name.startswith(("venv/", ".tools/", ".modelstack/"))
            or not path.is_file()
            or path == Path(__file__)
        ):
            continue
        text = path.read_bytes().decode(errors="replace")
        found += [f"{name}: {host}" for host in REGISTRY_HOSTS if host in text]
    assert not found, found

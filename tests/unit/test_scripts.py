"""The shell scripts' decisions, run in bash with chosen environments: which Pulumi settings
scripts/pulumi-env.sh makes, which Debian mirror scripts/build-base-image.sh takes, and that the
project's files name no package registry's host."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV_SCRIPT = REPO / "scripts" / "pulumi-env.sh"
BASE_IMAGE_SCRIPT = REPO / "scripts" / "build-base-image.sh"
LOCAL_STATE = f"file://{REPO / '.modelstack' / 'state'}"
LOCAL_HOME = str(REPO / ".modelstack" / "pulumi-home")
TOOLS_BIN = str(REPO / ".tools" / "bin")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def sourced(env: dict[str, str], *args: str) -> tuple[dict[str, str], str]:
    """The environment after `. scripts/pulumi-env.sh ARGS` in a bash started with exactly `env`."""
    quoted = " ".join(f"'{a}'" for a in args)
    done = subprocess.run(
        ["bash", "-c", f'. "{ENV_SCRIPT}" {quoted} && env -0', "bash"],
        env={"PATH": SYSTEM_PATH, **env},
        capture_output=True,
        timeout=30,
        check=True,
    )
    variables = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return variables, done.stderr.decode()


def login(home: Path, current: str) -> None:
    """What `pulumi login` leaves in ~/.pulumi/credentials.json."""
    (home / ".pulumi").mkdir(parents=True, exist_ok=True)
    (home / ".pulumi" / "credentials.json").write_text(
        json.dumps({"current": current, "accessTokens": {current: "pul-xyz"}, "accounts": {}}, indent=4)
    )


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


@pytest.mark.parametrize("stack", [(), ("local",), ("dev",), ("e2e",)])
def test_nothing_set_by_the_user_means_the_local_settings(tmp_path, stack):
    env, stderr = sourced({"HOME": str(tmp_path)}, *stack)
    assert_local(env)
    assert env["PULUMI_HOME"] == LOCAL_HOME
    assert env["PULUMI_CONFIG_PASSPHRASE"] == ""
    assert stderr == ""


@pytest.mark.parametrize("stack", [(), ("dev",), ("prod",)])
def test_a_pulumi_login_is_respected(tmp_path, stack):
    login(tmp_path, "https://api.example.com")
    env, _ = sourced({"HOME": str(tmp_path)}, *stack)
    assert_untouched(env)
    assert "PULUMI_BACKEND_URL" not in env


def test_a_login_under_the_users_pulumi_home_counts(tmp_path):
    login(tmp_path / "elsewhere", "s3://bucket/state")
    env, _ = sourced({"HOME": str(tmp_path), "PULUMI_HOME": str(tmp_path / "elsewhere" / ".pulumi")}, "staging")
    assert env["MODELSTACK_PULUMI_MODE"] == "user"
    assert env["PULUMI_HOME"] == str(tmp_path / "elsewhere" / ".pulumi"), "the user's plugins stay where they are"
    assert "PULUMI_BACKEND_URL" not in env


def test_credentials_without_a_current_backend_are_no_login(tmp_path):
    (tmp_path / ".pulumi").mkdir()
    (tmp_path / ".pulumi" / "credentials.json").write_text('{"current": "", "accessTokens": {}}')
    env, _ = sourced({"HOME": str(tmp_path)})
    assert_local(env)


def test_the_users_backend_url_is_respected(tmp_path):
    env, _ = sourced(
        {"HOME": str(tmp_path), "PULUMI_BACKEND_URL": "azblob://state", "PULUMI_CONFIG_PASSPHRASE_FILE": "/secret"},
        "prod",
    )
    assert_untouched(env)
    assert env["PULUMI_BACKEND_URL"] == "azblob://state" and env["PULUMI_CONFIG_PASSPHRASE_FILE"] == "/secret"


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


# The modelstack CLI (drift, promote) reaches the engine with the same settings as the shell.
SETTINGS = (
    "MODELSTACK_PULUMI_MODE",
    "PATH",
    "PULUMI_BACKEND_URL",
    "PULUMI_HOME",
    "PULUMI_SKIP_UPDATE_CHECK",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
    "PULUMI_CONFIG_PASSPHRASE",
)


def environment(tmp_path, case: str) -> dict[str, str]:
    env = {"HOME": str(tmp_path), "PATH": SYSTEM_PATH}
    if case == "pulumi login":
        login(tmp_path, "https://api.example.com")
    elif case == "backend URL":
        env["PULUMI_BACKEND_URL"] = "azblob://state"
    elif case == "passphrase file":
        env.update(PULUMI_BACKEND_URL="s3://bucket", PULUMI_CONFIG_PASSPHRASE_FILE="/secret")
    elif case == "own home":
        env["PULUMI_HOME"] = str(tmp_path / "ph")
    return env


CASES = ["nothing set", "pulumi login", "backend URL", "passphrase file", "own home"]


@pytest.mark.parametrize("stack", ["local", "e2e-staging", "dev", "prod"])
@pytest.mark.parametrize("case", CASES)
def test_the_cli_and_the_shell_agree_on_every_setting(tmp_path, stack, case):
    from components.commands.engine import engine_env

    env = environment(tmp_path, case)
    shell, _ = sourced(env, stack)
    cli = engine_env(REPO, stack, env)
    local = stack in ("local", "e2e-staging") or case in ("nothing set", "own home")
    assert cli["MODELSTACK_PULUMI_MODE"] == ("local" if local else "user")
    expected = {k: shell.get(k) for k in SETTINGS}
    if local and env.get("PULUMI_BACKEND_URL"):
        # sourced for a local stack, the script replaces the user's URL; the CLI keeps what the
        # shell it runs in has (in a shell that sourced the script, that is the local one: below)
        expected["PULUMI_BACKEND_URL"] = env["PULUMI_BACKEND_URL"]
    assert {k: cli.get(k) for k in SETTINGS} == expected


@pytest.mark.parametrize("stack", ["local", "e2e-staging", "dev", "prod"])
@pytest.mark.parametrize("case", CASES)
def test_the_cli_in_a_shell_that_sourced_the_script_changes_nothing(tmp_path, stack, case):
    from components.commands.engine import engine_env

    shell, _ = sourced(environment(tmp_path, case), stack)
    cli = engine_env(REPO, stack, shell)
    assert {k: cli.get(k) for k in SETTINGS} == {k: shell.get(k) for k in SETTINGS}


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

"""Hostile project and stack files: whatever a file holds, reading it gives a ConfigError that
names the file, the rule and the fix; never a traceback or a hang (a read that does not end
within a generous bound fails the test)."""

from __future__ import annotations

import os
import threading

import pytest

from components.config.reading import MAX_CONFIG_BYTES, parse_json
from components.errors import ConfigError, ConfigErrors, ModelstackError

# A bound that only stops a hang (a fifo or a device read for ever, an alias bomb expanded):
# reading a file that does not end by then fails the test instead of holding it.
HANG_SECONDS = 60


def load_error(project, stack: str = "local") -> str:
    """The ConfigError(s) reading the stack raises, read on a thread of its own so that a hang
    fails the test after HANG_SECONDS; a refusal arrives long before on any machine."""
    outcome: dict[str, BaseException] = {}

    def load() -> None:
        try:
            project.load(stack)
        except BaseException as raised:  # handed to the test's own thread below
            outcome["raised"] = raised

    reader = threading.Thread(target=load, name="load-stack", daemon=True)
    reader.start()
    reader.join(HANG_SECONDS)
    assert not reader.is_alive(), f"reading the stack did not end within {HANG_SECONDS} s (a hang)"
    assert "raised" in outcome, "the file was accepted"
    if not isinstance(outcome["raised"], (ConfigError, ConfigErrors)):
        raise outcome["raised"]
    return str(outcome["raised"])


def stack_path(project):
    return project.root / "stacks" / "Pulumi.local.yaml"


@pytest.mark.parametrize(
    "data, byte",
    [
        (b"config:\n  modelstack:location: \xe9t\xe9\n", "0xe9"),  # Latin-1
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "0x89"),  # binary
        (b"config: {}\n" + bytes(range(128, 256)), "0x80"),
    ],
)
def test_a_file_that_is_not_utf8_is_refused_with_the_first_bad_byte(project, data, byte):
    stack_path(project).write_bytes(data)
    message = load_error(project)
    assert f"Pulumi.local.yaml is not UTF-8 text (byte {byte}" in message
    assert "Rule: stack and project files are YAML mappings; it is UTF-8 text" in message
    assert "Fix: save the file as UTF-8" in message


def test_nul_bytes_in_utf8_text_are_a_yaml_error_not_a_traceback(project):
    stack_path(project).write_bytes(b"config:\n  modelstack:location: a\x00b\n")
    assert "Pulumi.local.yaml is not valid YAML at line 2" in load_error(project)


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda p: p.mkdir(), "a folder"),
        (os.mkfifo, "a fifo"),
        (lambda p: p.symlink_to("/dev/zero"), "a device"),
        (lambda p: p.symlink_to("/dev/null"), "a device"),
    ],
)
def test_a_stack_file_that_is_not_a_regular_file_is_refused_without_reading_it(project, make, kind):
    path = stack_path(project)
    path.unlink()
    make(path)
    message = load_error(project)
    assert f"Pulumi.local.yaml is {kind}" in message
    assert "it is a regular file" in message


@pytest.mark.parametrize("size", [MAX_CONFIG_BYTES + 1, 5 * MAX_CONFIG_BYTES])
def test_a_file_over_one_mib_is_refused_before_it_is_parsed(project, size):
    stack_path(project).write_text("config: {}\n#" + "x" * size)
    message = load_error(project)
    assert "Pulumi.local.yaml is " in message and " bytes" in message
    assert "it is at most 1,048,576 bytes" in message


def test_a_file_just_under_the_limit_is_read(project):
    text = stack_path(project).read_text()
    stack_path(project).write_text(text + "#" + "x" * (MAX_CONFIG_BYTES - len(text.encode()) - 2) + "\n")
    assert project.load("local").registry.port == 5050


@pytest.mark.parametrize(
    "text",
    [
        "config:\n  - modelstack:location: westeurope\n",
        "config: [1, 2]\n",
        "config: just a string\n",
        "config: 3\n",
    ],
)
def test_config_that_is_not_a_mapping_is_refused_in_a_stack_file(project, text):
    stack_path(project).write_text(text)
    message = load_error(project)
    assert "`config:` in Pulumi.local.yaml is a " in message
    assert "Rule: `config:` is a mapping of namespaced keys to values" in message


@pytest.mark.parametrize("text", ["config:\n  - a\n  - b\n", "config: hello\n"])
def test_config_that_is_not_a_mapping_is_refused_in_pulumi_yaml(project, text):
    pulumi_yaml = project.root / "Pulumi.yaml"
    pulumi_yaml.write_text(pulumi_yaml.read_text().split("config:")[0] + text)
    assert "`config:` in Pulumi.yaml is a " in load_error(project)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_a_file_that_is_not_a_mapping_is_refused(project, text):
    stack_path(project).write_text(text)
    assert "Pulumi.local.yaml holds a " in load_error(project)


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}"), ("- ", "")])
def test_deep_nesting_is_refused_at_64_levels(project, opening, closing):
    if opening == "- ":
        nested = "".join("  " * (i + 2) + "-\n" for i in range(200))
    else:
        nested = opening * 5000 + "1" + closing * 5000
    stack_path(project).write_text(
        "config:\n  modelstack:tags: " + nested + "\n" if opening != "- " else "config:\n  modelstack:tags:\n" + nested
    )
    message = load_error(project)
    assert "is not valid YAML" in message and "nesting deeper than 64 levels" in message


def test_nesting_within_the_limit_is_read_and_judged_by_the_schema(project):
    stack_path(project).write_text("config:\n  modelstack:tags: " + "[" * 40 + "1" + "]" * 40 + "\n")
    assert "modelstack:tags" in load_error(project)


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
config:
  modelstack:tags: *i
"""


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS,
        # the same through merge keys
        "x: &x {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n"
        + "".join(f"y{n}: &y{n} [{', '.join([f'*y{n - 1}' if n else '*x'] * 10)}]\n" for n in range(7))
        + "config: {}\n",
    ],
)
def test_an_alias_bomb_is_refused_before_it_expands(project, text):
    stack_path(project).write_text(text)
    message = load_error(project)
    assert "Pulumi.local.yaml expands to more than 100,000 values (through its aliases)" in message
    assert "Fix: write the values out instead of repeating aliases of aliases" in message


@pytest.mark.parametrize("text", ["a: &a [*a]\nconfig: {}\n", "a: &a {b: *a}\nconfig: {}\n"])
def test_an_alias_inside_its_own_collection_is_refused(project, text):
    stack_path(project).write_text(text)
    assert "an alias refers to the collection that holds it" in load_error(project)


def test_a_few_aliases_are_fine(project):
    stack_path(project).write_text(
        "config:\n  modelstack:registry: {kind: local, port: 5050}\n"
        "  modelstack:tags: &t {team: ml}\n  modelstack:services:\n    diabetes:\n      tags: *t\n      deploy: {port: 6789}\n"
    )
    config = project.load("local")
    assert config.tags == {"team": "ml"} and config.services["diabetes"].tags == {"team": "ml"}


@pytest.mark.parametrize(
    "text, key, line",
    [
        ("config:\n  modelstack:location: westeurope\n  modelstack:location: northeurope\n", "modelstack:location", 3),
        ("config:\n  modelstack:registry:\n    kind: local\n    port: 1\n    port: 2\n", "port", 5),
        ("config: {}\nconfig: {}\n", "config", 2),
        ("config:\n  modelstack:tags: {a: 1, a: 2}\n", "a", 2),
    ],
)
def test_duplicate_keys_are_errors(project, text, key, line):
    stack_path(project).write_text(text)
    message = load_error(project)
    assert f"Pulumi.local.yaml is not valid YAML at line {line}" in message
    assert f"duplicate key '{key}'" in message
    assert "Fix: keep one of the two" in message


def test_a_merge_key_may_override_what_it_merges(project):
    stack_path(project).write_text(
        "base: &base {kind: local, port: 1}\nconfig:\n  modelstack:registry:\n    <<: *base\n    port: 5050\n"
    )
    with pytest.raises(ConfigError) as caught:
        project.load("local")
    assert "top-level key(s) ['base']" in str(caught.value), (
        "the merge itself was accepted; only the stray key is refused"
    )


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[" * 100_000, "nests deeper than 64 levels"),
        ("[" * 70 + "]" * 70, "nests deeper than 64 levels"),
        ('{"a": ' * 70 + "1" + "}" * 70, "nests deeper than 64 levels"),
        ("{'single': 1}", "is not JSON"),
    ],
)
def test_json_nesting_is_bounded(text, problem):
    with pytest.raises(ModelstackError) as caught:
        parse_json(text, "preview.json", rule="r", fix="f")
    assert problem in str(caught.value)

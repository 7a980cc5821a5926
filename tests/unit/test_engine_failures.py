"""A failed engine command in the end-to-end tests says why (tests/e2e/engine.py): the message
keeps the engine's diagnostics for each failed resource whatever the length of the output around
them, so a failure on someone else's machine can be read from the test's message alone."""

from __future__ import annotations

from tests.e2e.engine import DIAGNOSTICS_LIMIT, diagnostics, failure_message

CONTAINER_ERROR = "    error: container exited at once with 137: the replica was OOM-killed (memory limit 512 MiB)"
OUTPUT = "\n".join(
    [
        "Updating (dev):",
        *[f" +  docker:index:Container step {i} creating ({'.' * 60})" for i in range(400)],  # a long update
        "Diagnostics:",
        "  docker:index/container:Container (diabetes):",
        CONTAINER_ERROR,
        "",
        "  docker:index/container:Container (diabetes-multi):",
        "    error: port 8001 is already allocated",
        "",
        "  pulumi:pulumi:Stack (modelstack-dev):",
        "    error: update failed",
        "",
        "Outputs:",
        *[f"    out{i}: {'x' * 80}" for i in range(100)],  # a long tail after them
        "",
        "Resources:",
        "    + 5 created",
        "    2 errored",
        "",
        "Duration: 38s",
    ]
)


def test_each_failed_resource_and_its_error_are_kept_however_long_the_output():
    message = failure_message(("up", "--yes"), 255, OUTPUT, "")
    assert message.startswith(
        "pulumi up --yes exited 255\nDiagnostics:\n  docker:index/container:Container (diabetes):\n"
    )
    for line in (
        CONTAINER_ERROR,
        "    error: port 8001 is already allocated",
        "  pulumi:pulumi:Stack (modelstack-dev):",
    ):
        assert line in message
    assert "    2 errored" in message  # the output's end is still there
    assert "Outputs:" not in diagnostics(OUTPUT) and "Updating" not in diagnostics(OUTPUT)


def test_a_diagnostics_section_past_the_limit_keeps_each_resource_and_its_errors():
    noisy = OUTPUT.replace(
        CONTAINER_ERROR, CONTAINER_ERROR + "\n" + "\n".join(f"    log {'y' * 100}" for _ in range(500))
    )
    kept = diagnostics(noisy)
    assert len(kept) <= DIAGNOSTICS_LIMIT
    assert kept.splitlines() == [
        "  docker:index/container:Container (diabetes):",
        CONTAINER_ERROR,
        "  docker:index/container:Container (diabetes-multi):",
        "    error: port 8001 is already allocated",
        "  pulumi:pulumi:Stack (modelstack-dev):",
        "    error: update failed",
    ]


def test_output_without_diagnostics_keeps_its_ends():
    message = failure_message(("preview",), 1, "a" * 10_000, "error: no stack named 'dev' found")
    assert message == (
        "pulumi preview exited 1\n--- stdout (last 4000 characters) ---\n"
        + "a" * 4000
        + "\n--- stderr (last 4000 characters) ---\nerror: no stack named 'dev' found"
    )

"""plan-summary on JSON of the wrong shape and profile with non-finite sizes: clear errors,
pinned by message, no traceback; plan-summary stays linear in the size of its input."""

from __future__ import annotations

import json

import pytest

from components.commands.plan_summary import changes, load_policy_results, load_preview
from components.commands.profile.inputs import check_limits
from components.errors import ModelstackError

URN = "urn:pulumi:dev::modelstack::modelstack:webservice:Webservice::diabetes"


def preview_error(tmp_path, document) -> str:
    path = tmp_path / "preview.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(ModelstackError) as caught:
        load_preview(str(path))
    return str(caught.value)


@pytest.mark.parametrize(
    "document, problem",
    [
        ({"steps": "all"}, "'steps' is a str, not a list"),
        ({"steps": [1, 2]}, "steps[0] is a int, not an object"),
        ({"steps": [["urn"]]}, "steps[0] is a list, not an object"),
        ({"steps": [{"urn": "not-a-urn"}]}, "steps[0].urn is not a URN"),
        ({"steps": [{"urn": 42}]}, "steps[0].urn is not a URN"),
        ({"steps": [{"urn": URN, "op": 3}]}, "steps[0].op is not text"),
        ({"steps": [{"urn": URN, "newState": "x"}]}, "steps[0].newState is a str, not an object"),
        ({"steps": [{"urn": URN, "newState": {"parent": "nope"}}]}, "steps[0].newState.parent is not a URN"),
        ({"steps": [{"urn": URN, "replaceReasons": "image"}]}, "steps[0].replaceReasons is not a list of names"),
        ({"steps": [], "changeSummary": {"create": "three"}}, 'changeSummary.create is "three", not a count'),
        ({"steps": [], "changeSummary": {"create": True}}, "changeSummary.create is true, not a count"),
        ({"steps": [], "changeSummary": [1]}, "'changeSummary' is a list, not an object"),
    ],
)
def test_a_preview_of_the_wrong_shape_is_named(tmp_path, document, problem):
    message = preview_error(tmp_path, document)
    assert f"preview.json: {problem}" in message
    assert "Fix: pass the unedited output of `pulumi preview --json`" in message


@pytest.mark.parametrize(
    "text, said",
    [
        ("[" * 100_000, "nests deeper than 64 levels"),
        ("\xff\xfe", None),
        ("[]", "has no 'steps'"),
    ],
)
def test_unreadable_previews_are_named(tmp_path, text, said):
    path = tmp_path / "preview.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ModelstackError) as caught:
        load_preview(str(path))
    assert said is None or said in str(caught.value)


@pytest.mark.parametrize("count", ["three", True, [3], float("nan"), {"n": 3}])
def test_pool_counts_that_are_not_numbers_are_named(count):
    from components.commands.plan_summary import monthly_cost

    with pytest.raises(ModelstackError) as caught:
        monthly_cost(
            "azure-native:containerservice:ManagedCluster",
            "aks",
            {"agentPoolProfiles": [{"vmSize": "Standard_D2s_v5", "count": count}]},
        )
    assert "aks: agent pool count is " in str(caught.value) and "not a number" in str(caught.value)


@pytest.mark.parametrize(
    "document", [[1, 2], {"violations": "none"}, {"violations": [1]}, {"violations": [{"policy": 3}]}]
)
def test_policies_of_the_wrong_shape_are_named(tmp_path, document):
    path = tmp_path / "check.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ModelstackError) as caught:
        load_policy_results(path)
    assert caught.value.key == "--policies"
    assert "holds no list of violations" in str(caught.value)


def _chain(n: int) -> dict:
    """A preview of n resources, each the parent of the next."""

    def urn(i):
        return f"urn:pulumi:dev::modelstack::modelstack:x:Thing::r{i}"

    return {
        "steps": [
            {
                "urn": urn(i),
                "op": "create",
                "newState": {"type": "modelstack:x:Thing", "parent": urn(i - 1) if i else None},
            }
            for i in range(n)
        ]
    }


def _lines_run(document: dict) -> int:
    """How many lines of plan_summary.py changes() runs on the document: a count of the work
    done, the same on every machine however busy (where a stopwatch is not)."""
    import sys

    import components.commands.plan_summary as plan_summary

    here = plan_summary.__file__
    count = 0

    def trace(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != here:
            return None
        if event == "line":
            count += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        changes(document)
    finally:
        sys.settrace(previous)
    return count


def test_a_long_chain_of_parents_is_grouped_in_linear_time():
    """Linear, shown by counting the work rather than timing it: twice the chain, about twice the
    lines run (a walk up the chain from every resource would be four times). How long 20,000
    take is measured in benchmarks/plan_summary_chain.py."""
    found = changes(_chain(20_000))  # deep enough to break a recursive walk
    assert len(found) == 20_000 and {c.group for c in found} == {"r0"}
    small, large = _lines_run(_chain(2_000)), _lines_run(_chain(4_000))
    assert large / small < 2.5, f"2,000 resources ran {small} lines, 4,000 ran {large} (quadratic?)"


@pytest.mark.parametrize(
    "cpu, memory, duration, option",
    [
        (float("nan"), 1.0, 5.0, "--cpu"),
        (1.0, float("nan"), 5.0, "--memory-gb"),
        (1.0, float("inf"), 5.0, "--memory-gb"),
        (1.0, 1.0, float("inf"), "--duration"),
        (float("-inf"), 1.0, 5.0, "--cpu"),
    ],
)
def test_profile_sizes_are_finite(cpu, memory, duration, option):
    with pytest.raises(ModelstackError) as caught:
        check_limits(cpu, memory, duration, host_cpus=2, host_memory_gb=24)
    assert caught.value.key == option
    assert "is not a finite number" in str(caught.value)
    assert "Rule: sizes and durations are finite numbers (nan and inf are not)" in str(caught.value)


@pytest.mark.parametrize(
    "memory, said", [(-1.0, "is too small"), (0.0, "is too small"), (1e9, "is more than this machine has")]
)
def test_profile_memory_is_within_what_the_machine_has(memory, said):
    with pytest.raises(ModelstackError) as caught:
        check_limits(1.0, memory, 5.0, host_cpus=2, host_memory_gb=24)
    assert said in str(caught.value)

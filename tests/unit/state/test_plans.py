"""Saved plans' own rules (components/state/plans.py), without the engine: signatures, the stack
and expiry checks, stale bindings, the program's files, the signing key's sources and the cost
gate. The engine's side is tests/e2e/test_team_path_engine.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from components.errors import ModelstackError
from components.state import plans

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
BINDINGS = plans.Bindings(state="sha256:s1", program="sha256:p1", images={"svc-image": "aaaa"})


def body(stack: str = "dev", *, created: datetime = NOW, hours: int = 24, cost: dict | None = None) -> dict:
    return plans.new_body(
        project="modelstack",
        stack=stack,
        backend="file:///state",
        created=created,
        lifetime=timedelta(hours=hours),
        bindings=BINDINGS,
        steps=[{"urn": "urn:pulumi:dev::modelstack::t::svc-image", "op": "replace"}],
        cost=cost or plans.cost_record(0, 0, [], None),
        engine_plan={"resourcePlans": {}},
    )


def key(stack: str = "dev", passphrase: str = "correct horse") -> plans.SigningKey:
    return plans.signing_key({"PULUMI_CONFIG_PASSPHRASE": passphrase}, stack)


def signed(document_body: dict, signing: plans.SigningKey | None = None) -> dict:
    return {"body": document_body, "signature": plans.sign(document_body, signing or key())}


def refusal_texts(document: dict, *, stack: str = "dev", now: datetime = NOW, signing=None) -> list[str]:
    found = plans.refusals(document, stack=stack, project="modelstack", key=signing or key(stack), now=now)
    return [str(error) for error in found]


def test_a_fresh_plan_of_its_stack_is_accepted():
    assert refusal_texts(signed(body())) == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b["steps"].append({"urn": "urn:pulumi:dev::modelstack::t::extra", "op": "delete"}),
        lambda b: b["bindings"].update(state="sha256:other"),
        lambda b: b.update(expires="2999-01-01T00:00:00Z"),
        lambda b: b["engine_plan"].update(resourcePlans={"x": {}}),
        lambda b: b["cost"].update(needs_approval=False, approval_above=None, increase=1e9),
    ],
    ids=["a step added", "the state binding", "the expiry", "the engine's plan", "the cost gate"],
)
def test_an_edited_plan_is_refused(edit):
    document = signed(body(cost=plans.cost_record(0, 500, [], 100)))
    edit(document["body"])
    [message] = refusal_texts(document)
    assert "signature does not match" in message and "PULUMI_CONFIG_PASSPHRASE" in message


def test_a_plan_signed_with_another_key_is_refused():
    [message] = refusal_texts(signed(body(), key(passphrase="another")))
    assert "signature does not match" in message


def test_another_stacks_plan_is_refused_by_name():
    [message] = refusal_texts(signed(body("staging"), key("staging")), stack="prod", signing=key("prod"))
    assert "the plan is for stack staging" in message and "not stack prod" in message


def test_the_key_is_the_stacks_own_so_a_plan_moved_to_another_stack_does_not_verify():
    """Two stacks sharing a passphrase: a plan whose stack field is rewritten still fails."""
    document = signed(body("staging"), key("staging"))
    document["body"]["stack"] = "prod"
    [message] = refusal_texts(document, stack="prod", signing=key("prod"))
    assert "signature does not match" in message


def test_an_expired_plan_is_refused_with_its_times():
    document = signed(body(created=NOW - timedelta(hours=25), hours=24))
    [message] = refusal_texts(document)
    assert "expired at 2026-12-07T11:00:00Z" in message and "made 2026-12-06T11:00:00Z" in message
    assert refusal_texts(signed(body(created=NOW - timedelta(hours=23), hours=24))) == []


def test_stale_bindings_name_what_moved():
    assert plans.stale_bindings(BINDINGS.as_dict(), BINDINGS) == []
    moved = plans.stale_bindings(
        BINDINGS.as_dict(),
        plans.Bindings(state="sha256:s2", program="sha256:p2", images={"svc-image": "bbbb", "new-image": "cccc"}),
    )
    assert moved == [
        "the stack's state changed (an update, refresh or import ran after the plan was made)",
        "the program or the stack's configuration changed",
        "the images it would run changed (new-image, svc-image)",
    ]


def test_program_digest_follows_code_and_the_stacks_config_but_not_caches_or_other_stacks(tmp_path: Path):
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "a.py").write_text("x = 1\n")
    (tmp_path / "components" / "__pycache__").mkdir()
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text("name: modelstack\n")
    stack_file = tmp_path / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text("config: {}\n")

    def digest() -> str:
        return plans.program_digest(tmp_path, plans.program_paths(tmp_path, stack_file))

    first = digest()
    (tmp_path / "components" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text("config: {x: 1}\n")
    assert digest() == first
    stack_file.write_text("config: {modelstack:tags: {a: b}}\n")
    assert digest() != first
    stack_file.write_text("config: {}\n")
    assert digest() == first
    (tmp_path / "components" / "a.py").write_text("x = 2\n")
    assert digest() != first


def test_state_digest_ignores_formatting_but_not_content():
    assert plans.state_digest({"a": 1, "b": [1, 2]}) == plans.state_digest(json.loads('{"b": [1, 2],  "a": 1}'))
    assert plans.state_digest({"a": 1}) != plans.state_digest({"a": 2})


def test_signing_key_sources_in_order(tmp_path: Path):
    key_file = tmp_path / "plan.key"
    key_file.write_text("from a file\n")
    assert plans.signing_key({"MODELSTACK_PLAN_KEY_FILE": str(key_file), "MODELSTACK_PLAN_KEY": "x"}, "dev").source == (
        "MODELSTACK_PLAN_KEY_FILE"
    )
    assert plans.signing_key({"MODELSTACK_PLAN_KEY": "x", "PULUMI_CONFIG_PASSPHRASE": "p"}, "dev").source == (
        "MODELSTACK_PLAN_KEY"
    )
    # the trailing newline of a key file is not part of the key
    assert (
        plans.signing_key({"MODELSTACK_PLAN_KEY_FILE": str(key_file)}, "dev").key
        == plans.signing_key({"MODELSTACK_PLAN_KEY": "from a file"}, "dev").key
    )
    assert plans.signing_key({"PULUMI_CONFIG_PASSPHRASE": ""}, "local").source == "PULUMI_CONFIG_PASSPHRASE"
    with pytest.raises(ModelstackError) as missing:
        plans.signing_key({}, "prod")
    assert "MODELSTACK_PLAN_KEY_FILE" in str(missing.value) and "prod" in str(missing.value)
    with pytest.raises(ModelstackError) as unreadable:
        plans.signing_key({"MODELSTACK_PLAN_KEY_FILE": str(tmp_path / "absent")}, "prod")
    assert "cannot be read" in str(unreadable.value)


def test_the_key_itself_never_appears_in_a_message(tmp_path: Path):
    secret = "s3cret-passphrase-value"
    document = signed(body(), key(passphrase="other"))
    texts = refusal_texts(document, signing=plans.signing_key({"PULUMI_CONFIG_PASSPHRASE": secret}, "dev"))
    assert texts and all(secret not in text for text in texts)


def test_the_cost_gate():
    assert plans.cost_record(10, 200, ["x"], 100)["needs_approval"] is True
    assert plans.cost_record(10, 110, [], 100)["needs_approval"] is False  # +100 is not above 100
    assert plans.cost_record(0, 1e6, [], None)["needs_approval"] is False  # no limit, no gate
    gated = body(cost=plans.cost_record(10, 200, [], 100))
    refusal = plans.approval_refusal(gated, None, Path("plan.json"))
    assert refusal is not None
    assert "by $190.00, above its limit of $100.00" in str(refusal) and "--approved-by" in str(refusal)
    assert plans.approval_refusal(gated, "  ", Path("plan.json")) is not None
    assert plans.approval_refusal(gated, "Dana (platform lead)", Path("plan.json")) is None
    assert plans.approval_refusal(body(), None, Path("plan.json")) is None


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "is not JSON"),
        (b"[1, 2]", "is not a modelstack plan"),
        (b'{"body": {"format": "other"}}', "is not a modelstack plan"),
        (b"[" * 100_000, "is not JSON"),
    ],
    ids=["empty", "a list", "another format", "deeply nested"],
)
def test_a_file_that_is_not_a_plan_is_named(tmp_path: Path, content: bytes, expected: str):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    with pytest.raises(ModelstackError) as refused:
        plans.load_plan_document(path)
    assert expected in str(refused.value) and str(path) in str(refused.value)


def test_a_folder_or_a_missing_file_is_not_a_plan(tmp_path: Path):
    for path in (tmp_path, tmp_path / "absent.json"):
        with pytest.raises(ModelstackError) as refused:
            plans.load_plan_document(path)
        assert "is not a plan file" in str(refused.value)

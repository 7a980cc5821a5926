"""The guardrails shared by the CrossGuard pack and `modelstack check`, called directly."""

from components.policy_rules import LOCAL_WEBSERVICE, POLICIES, evaluate_policies, image_pinned_by_digest


def test_image_by_digest_passes():
    assert image_pinned_by_digest(LOCAL_WEBSERVICE, {"service": "diabetes", "image": "localhost:5050/diabetes@sha256:" + "a" * 64}) is None


def test_image_by_tag_fails_with_the_rule_and_the_fix():
    assert image_pinned_by_digest(LOCAL_WEBSERVICE, {"service": "diabetes", "image": "localhost:5050/diabetes:latest"}) == (
        "service diabetes runs image 'localhost:5050/diabetes:latest', which is not pinned by digest. "
        "Deployments must run an image by digest (repository@sha256:...): use the `image` output of the service's ServiceImage."
    )


def test_unknown_image_is_not_judged():
    assert image_pinned_by_digest(LOCAL_WEBSERVICE, {"service": "diabetes", "image": "[computed]"}) is None
    assert image_pinned_by_digest(LOCAL_WEBSERVICE, {"service": "diabetes", "image": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}) is None


def test_other_resource_types_are_not_judged():
    assert image_pinned_by_digest("pulumi-python:dynamic/modelstack:ServiceImage", {"image": "x:latest"}) is None


def test_policies_are_named_in_kebab_case_with_one_sentence():
    for policy in POLICIES:
        assert policy.name == policy.name.lower() and " " not in policy.name
        assert policy.description.endswith(".") and policy.description.count(". ") == 0


def test_evaluate_policies_reports_the_resource_and_the_level():
    violations = evaluate_policies([("urn:b", LOCAL_WEBSERVICE, {"service": "s", "image": "r/s:1"}), ("urn:a", LOCAL_WEBSERVICE, {"service": "s", "image": "r/s@sha256:1"})])
    assert [(v.policy, v.enforcement, v.resource) for v in violations] == [("images-pinned-by-digest", "mandatory", "urn:b")]

"""The components that serve any Kubernetes cluster were named for AKS. Their type tokens changed
(modelstack:aks:AksWebservice -> modelstack:kubernetes:Webservice, modelstack:aks:AksFrontend ->
modelstack:kubernetes:Frontend); a stack recorded under the old tokens must not replace them, so
each carries an alias to its old token. The Azure stacks cannot run through the engine here (no
azure-native plugin), so the aliases are asserted where they are given, under the mock runtime;
the local and cluster stacks were checked through the engine over states written before."""

from __future__ import annotations

import pulumi
import pytest

from components.offline.evaluate import evaluate_stack

RENAMED = {
    "modelstack:kubernetes:Webservice": "modelstack:aks:AksWebservice",
    "modelstack:kubernetes:Frontend": "modelstack:aks:AksFrontend",
}


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_every_renamed_component_carries_an_alias_to_its_old_token(project, monkeypatch, stack):
    declared: list[tuple[str, str, list]] = []
    original = pulumi.ComponentResource.__init__

    def recording(self, t, name, props=None, opts=None, *args, **kwargs):
        declared.append((t, name, list(opts.aliases or []) if opts is not None else []))
        return original(self, t, name, props, opts, *args, **kwargs)

    monkeypatch.setattr(pulumi.ComponentResource, "__init__", recording)
    evaluate_stack(stack, project.root)
    renamed = [(t, name, aliases) for t, name, aliases in declared if t in RENAMED]
    assert {t for t, _, _ in renamed} == set(RENAMED), "the stack declares both renamed components"
    for t, name, aliases in renamed:
        assert [getattr(alias, "type_", None) for alias in aliases] == [RENAMED[t]], f"{t} {name}"
    # Nothing of modelstack's is still declared under an old token.
    assert not [t for t, _, _ in declared if t in RENAMED.values()]

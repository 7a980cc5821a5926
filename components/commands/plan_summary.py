"""`modelstack plan-summary`: a pull-request comment from `pulumi preview --json`.

Counts per operation, the changed resources grouped by service, replacements with their
reasons, policy results, and an estimated monthly cost with its delta. Input values are never
printed (only property names), so secrets cannot leak into a comment. The result stays under
GitHub's 65,536-character limit however large the plan: totals and replacements are kept,
per-resource rows are trimmed with a note saying how many were left out.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from components.config import reading
from components.config.reading import MAX_DOCUMENT_BYTES
from components.config.vm_sizes import DATA_DIR, DATA_DIR_FOR_PEOPLE
from components.errors import ModelstackError
from components.resource_types import ACR_REGISTRY, CONTAINER_GROUP, MANAGED_CLUSTER

COMMENT_LIMIT = 65_536
# First line of every summary: lets CI find its own comment and edit it in place.
MARKER = "<!-- modelstack-plan-summary -->"
# Room left for the trailer and a safety margin below GitHub's limit.
BUDGET = COMMENT_LIMIT - 2_000
OPERATIONS = ("create", "update", "replace", "delete", "same")
OP_SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " ", "read": ">", "refresh": "~"}
REPLACE_OPS = {"replace", "create-replacement", "delete-replaced", "discard-replaced"}
WEBSERVICE = "modelstack:webservice:Webservice"
PRICES_FILE = DATA_DIR / "service_prices.yaml"


@dataclass
class Change:
    urn: str
    type: str
    name: str
    op: str
    group: str
    reasons: list[str] = field(default_factory=list)


def load_preview(source: str) -> dict[str, Any]:
    """The document `pulumi preview --json` wrote, from a path or `-` (stdin)."""
    rule = "plan-summary reads the file `pulumi preview --json` writes"
    fix = "pulumi preview --json > preview.json, then pass preview.json (or - for stdin)"
    try:
        text = (
            sys.stdin.read(MAX_DOCUMENT_BYTES + 1)
            if source == "-"
            else reading.read_text(Path(source), limit=MAX_DOCUMENT_BYTES, rule=rule, error=ModelstackError)
        )
    except FileNotFoundError:
        raise ModelstackError(f"cannot read {source}: no such file", rule=rule, fix=fix) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelstackError(
            f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}", rule=rule, fix=fix
        ) from None
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ModelstackError(
            f"{source} is over {MAX_DOCUMENT_BYTES:,} characters", rule=rule, fix="pass the preview of one stack"
        )
    document = reading.parse_json(
        text,
        source,
        rule=rule,
        fix="run `pulumi preview --json` without other output mixed into the file (progress goes to stderr)",
    )
    if not isinstance(document, dict) or "steps" not in document:
        raise ModelstackError(
            f"{source} has no 'steps'",
            rule=rule,
            fix="pass the output of `pulumi preview --json`, not of `pulumi up` or `stack export`",
        )
    problem = preview_shape_problem(document)
    if problem:
        raise ModelstackError(
            f"{source}: {problem}",
            rule=f"{rule}: steps are objects with a urn (urn:pulumi:STACK::PROJECT::TYPE::NAME), counts are numbers",
            fix="pass the unedited output of `pulumi preview --json`",
        )
    return document


def load_policy_results(path: Path) -> list[dict[str, Any]]:
    """The violations of `modelstack check --json` output (`--policies`), checked for shape."""
    rule = "--policies takes the output of `modelstack check --json`"
    fix = "modelstack check --stack NAME --json > check.json"
    try:
        text = reading.read_text(path, limit=MAX_DOCUMENT_BYTES, rule=rule, error=ModelstackError, key="--policies")
    except FileNotFoundError:
        raise ModelstackError(f"{path} does not exist", key="--policies", rule=rule, fix=fix) from None
    document = reading.parse_json(text, str(path), rule=rule, fix=fix, key="--policies")
    violations = document.get("violations", []) if isinstance(document, dict) else None
    if not isinstance(violations, list) or not all(
        isinstance(v, dict)
        and all(isinstance(v.get(k, ""), str) for k in ("enforcement", "policy", "resource", "message"))
        for v in violations
    ):
        raise ModelstackError(
            f"{path} holds no list of violations (objects with enforcement, policy, resource and message)",
            key="--policies",
            rule=rule,
            fix=fix,
        )
    return violations


URN = re.compile(r"^urn:pulumi:[^:]*::[^:]*::[^\s]+::[^\n]*$")
STRING_LISTS = ("replaceReasons", "diffReasons")


def _state_problem(state: Any, where: str) -> str | None:
    if state is None:
        return None
    if not isinstance(state, dict):
        return f"{where} is a {type(state).__name__}, not an object"
    for name in ("type", "parent"):
        if state.get(name) is not None and not isinstance(state[name], str):
            return f"{where}.{name} is not text"
    if state.get("parent") and not URN.match(state["parent"]):
        return f"{where}.parent is not a URN"
    if state.get("inputs") is not None and not isinstance(state["inputs"], dict):
        return f"{where}.inputs is not an object"
    return None


def preview_shape_problem(document: dict[str, Any]) -> str | None:
    """What in a preview document is not of the shape `pulumi preview --json` writes; one pass."""
    steps = document.get("steps")
    if steps is not None and not isinstance(steps, list):
        return f"'steps' is a {type(steps).__name__}, not a list"
    for index, step in enumerate(steps or []):
        where = f"steps[{index}]"
        if not isinstance(step, dict):
            return f"{where} is a {type(step).__name__}, not an object"
        if not isinstance(step.get("urn"), str) or not URN.match(step["urn"]):
            return f"{where}.urn is not a URN"
        if not isinstance(step.get("op", "same"), str):
            return f"{where}.op is not text"
        for name in STRING_LISTS:
            value = step.get(name)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                return f"{where}.{name} is not a list of names"
        if step.get("detailedDiff") is not None and not isinstance(step["detailedDiff"], dict):
            return f"{where}.detailedDiff is not an object"
        for name in ("newState", "oldState"):
            problem = _state_problem(step.get(name), f"{where}.{name}")
            if problem:
                return problem
    summary = document.get("changeSummary")
    if summary is not None:
        if not isinstance(summary, dict):
            return f"'changeSummary' is a {type(summary).__name__}, not an object"
        for op, count in summary.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                return f"changeSummary.{op} is {json.dumps(count)[:40]}, not a count"
    return None


def _state(step: dict[str, Any]) -> dict[str, Any]:
    return step.get("newState") or step.get("oldState") or {}


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _urn_type(urn: str) -> str:
    return urn.split("::")[2].split("$")[-1]


def _type(urn: str, state: dict[str, Any]) -> str:
    return state.get("type") or _urn_type(urn)


def _normalise(op: str) -> str:
    return "replace" if op in REPLACE_OPS else op


def changes(document: dict[str, Any]) -> list[Change]:
    """One Change per resource (replacement steps folded), grouped by top-level component."""
    steps = [
        s
        for s in document.get("steps") or []
        if s.get("urn") and not _type(s["urn"], _state(s)).startswith("pulumi:pulumi:Stack")
    ]
    parents = {s["urn"]: _state(s).get("parent") for s in steps}
    types = {s["urn"]: _type(s["urn"], _state(s)) for s in steps}

    tops: dict[str, str] = {}

    def top(urn: str) -> str:
        """The top-level ancestor (the preview may omit unchanged parents); each URN's answer is
        remembered, so a long chain of parents costs its length once, not once per resource."""
        chain, current, seen = [], urn, set()
        while current not in tops and current not in seen:
            seen.add(current)
            chain.append(current)
            parent = parents.get(current)
            if not parent or _urn_type(parent) == "pulumi:pulumi:Stack":
                break
            current = parent
            if current not in parents:
                chain.append(current)
                break
        answer = tops.get(current, current)
        for item in chain:
            tops[item] = answer
        return answer

    def group(urn: str) -> str:
        current = top(urn)
        return f"service {_name(current)}" if _urn_type(current) == WEBSERVICE else _name(current)

    merged: dict[str, Change] = {}
    for step in steps:
        urn, op = step["urn"], _normalise(step.get("op", "same"))
        reasons = (
            list(step.get("replaceReasons") or [])
            if op == "replace"
            else list(step.get("diffReasons") or sorted((step.get("detailedDiff") or {}).keys()))
        )
        if urn in merged:
            merged[urn].reasons = sorted(set(merged[urn].reasons) | set(reasons))
            if op == "replace":
                merged[urn].op = "replace"
            continue
        merged[urn] = Change(urn, types[urn], _name(urn), op, group(urn), sorted(set(reasons)))
    return list(merged.values())


def operation_counts(document: dict[str, Any], found: list[Change]) -> dict[str, int]:
    """Counts per operation: the engine's own summary when present, else counted here."""
    summary = document.get("changeSummary") or {}
    counts = {op: 0 for op in OPERATIONS}
    if summary:
        for op, count in summary.items():
            counts[_normalise(op)] = counts.get(_normalise(op), 0) + int(count)
        return counts
    for change in found:
        counts[change.op] = counts.get(change.op, 0) + 1
    return counts


# --- cost -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def service_prices() -> dict[str, Any]:
    return yaml.safe_load(PRICES_FILE.read_text())


@dataclass
class Cost:
    amount: float = 0.0
    unknown: list[str] = field(default_factory=list)  # resources whose price is not known

    def add(self, other: Cost) -> None:
        self.amount += other.amount
        self.unknown += other.unknown


def _number(value: Any, where: str) -> float:
    """A count or size from a resource's inputs; a word, a boolean or nan is a clear error."""
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == value
        and abs(value) != float("inf")
    ):
        return float(value)
    raise ModelstackError(
        f"{where} is {json.dumps(value)[:40]}, not a number",
        rule="plan-summary reads the file `pulumi preview --json` writes: counts and sizes are numbers",
        fix="pass the unedited output of `pulumi preview --json`",
    )


def monthly_cost(resource_type: str, name: str, inputs: dict[str, Any]) -> Cost:
    """Estimated monthly cost of one resource from its inputs; zero for free resources."""
    from components.config.vm_sizes import find

    prices = service_prices()
    hours = prices["hours_per_month"]
    if resource_type == MANAGED_CLUSTER:
        cost = Cost()
        pools = inputs.get("agentPoolProfiles") or []
        for pool in pools if isinstance(pools, list) else [pools]:
            if not isinstance(pool, dict):
                raise ModelstackError(
                    f"{name}: an agent pool is {json.dumps(pool)[:40]}, not an object",
                    rule="agentPoolProfiles is a list of objects",
                    fix="pass the unedited output of `pulumi preview --json`",
                )
            size = find(str(pool.get("vmSize", "")))
            count = _number(pool.get("count") or pool.get("minCount") or 0, f"{name}: agent pool count")
            if size is None or size.price_per_hour is None:
                cost.unknown.append(f"{name} ({pool.get('vmSize')})")
            else:
                cost.amount += float(count) * size.price_per_hour * hours
        given = inputs.get("sku")
        sku = given if isinstance(given, dict) else {}
        tier = str(sku.get("tier") or "Free")
        tier_price = prices["aks_control_plane_per_hour"].get(tier)
        if tier_price is None:
            cost.unknown.append(f"{name} (AKS {tier} tier)")
        else:
            cost.amount += tier_price * hours
        return cost
    if resource_type == ACR_REGISTRY:
        given = inputs.get("sku")
        sku_name = (given if isinstance(given, dict) else {}).get("name")
        sku_name = sku_name if isinstance(sku_name, str) else str(sku_name)
        daily = prices["container_registry_per_day"].get(sku_name)
        return Cost(daily * hours / 24) if daily is not None else Cost(unknown=[f"{name} (ACR {sku_name})"])
    if resource_type == CONTAINER_GROUP:
        aci = prices["container_instances"]
        if aci["per_vcpu_second"] is None or aci["per_gb_second"] is None:
            return Cost(unknown=[f"{name} (ACI)"])
        seconds = hours * 3600
        total = 0.0
        containers = inputs.get("containers") or []
        for container in containers if isinstance(containers, list) else []:
            resources = container.get("resources") if isinstance(container, dict) else None
            requests = resources.get("requests") if isinstance(resources, dict) else None
            requests = requests if isinstance(requests, dict) else {}
            total += (
                _number(requests.get("cpu", 0), f"{name}: cpu") * aci["per_vcpu_second"] * seconds
                + _number(requests.get("memoryInGB", 0), f"{name}: memoryInGB") * aci["per_gb_second"] * seconds
            )
        return Cost(total)
    return Cost()


def plan_costs(document: dict[str, Any]) -> tuple[Cost, Cost]:
    """(before, after) monthly cost of the resources the preview lists."""
    before, after = Cost(), Cost()
    for step in document.get("steps") or []:
        op = _normalise(step.get("op", "same"))
        old, new = step.get("oldState") or {}, step.get("newState") or {}
        if op != "create" and old:
            before.add(monthly_cost(old.get("type", ""), _name(step["urn"]), old.get("inputs") or {}))
        if op != "delete" and new:
            after.add(monthly_cost(new.get("type", ""), _name(step["urn"]), new.get("inputs") or {}))
    return before, after


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


# --- rendering ------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(document: dict[str, Any], *, policies: list[dict[str, Any]] | None = None, limit: int = BUDGET) -> str:
    found = changes(document)
    counts = operation_counts(document, found)
    stacks = {c.urn.split("::")[0].removeprefix("urn:pulumi:") for c in found}
    title = f"## modelstack plan: stack {', '.join(sorted(stacks))}" if stacks else "## modelstack plan"
    head = [MARKER, title, "", "| operation | resources |", "|---|---|"]
    head += [f"| {op} | {counts.get(op, 0)} |" for op in OPERATIONS]
    head.append("")

    before, after = plan_costs(document)
    prices = service_prices()
    from components.config.vm_sizes import price_table

    vm = price_table()
    delta = after.amount - before.amount
    head += [
        "### Estimated monthly cost",
        "",
        f"{_money(after.amount)} after this change, {_money(before.amount)} before: **{'+' if delta >= 0 else '-'}{_money(abs(delta))}** per month.",
        "",
        f"Of the resources this plan lists (unchanged resources the preview leaves out are not counted). "
        f"VM prices: {vm.currency} {vm.basis}, {vm.region}, as of {vm.as_of}; registry and AKS tier prices as of {prices['as_of']} "
        f"({DATA_DIR_FOR_PEOPLE}/). Estimates, not a bill.",
    ]
    unknown = sorted(set(after.unknown + before.unknown))
    if unknown:
        head.append(f"Price unknown for: {', '.join(unknown)}.")
    head.append("")

    replaced = [c for c in found if c.op == "replace"]
    body_sections: list[list[str]] = []
    if replaced:
        lines = ["### Replacements", ""]
        lines += [
            f"- `{c.name}` ({c.type.rsplit(':', 1)[-1]}, {c.group}): replaced because {', '.join(f'`{r}`' for r in c.reasons) or 'the provider asked for it'} changed"
            for c in sorted(replaced, key=lambda c: (c.group, c.name))
        ]
        body_sections.append(lines + [""])
    if policies:
        mandatory = [p for p in policies if p.get("enforcement") == "mandatory"]
        lines = [
            "### Policies",
            "",
            f"{len(mandatory)} mandatory and {len(policies) - len(mandatory)} advisory violation(s).",
            "",
            "| level | policy | resource | message |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {p.get('enforcement')} | {p.get('policy')} | `{_name(p.get('resource', ''))}` | {_cell(p.get('message', ''))} |"
            for p in policies
        ]
        body_sections.append(lines + [""])
    elif policies is not None:
        body_sections.append(["### Policies", "", "Every policy passed.", ""])

    changed = sorted((c for c in found if c.op != "same"), key=lambda c: (c.group, c.name))
    table = [
        "### Changes by service",
        "",
        "| group | resource | type | operation | properties |",
        "|---|---|---|---|---|",
    ]
    rows = [
        f"| {c.group} | `{c.name}` | {c.type} | {OP_SYMBOLS.get(c.op, '')} {c.op} | {_cell(', '.join(c.reasons))} |"
        for c in changed
    ]

    text = "\n".join(head)
    for section in body_sections:
        candidate = text + "\n" + "\n".join(section)
        if len(candidate) < limit:
            text = candidate
        else:
            text += (
                f"\n_{section[0].lstrip('# ')} left out: the comment would exceed GitHub's limit; see the CI log._\n"
            )
    if not changed:
        return text + "\nNo resource changes.\n"
    text += "\n" + "\n".join(table)
    shown = 0
    for row in rows:
        if len(text) + len(row) + 200 > limit:
            break
        text += "\n" + row
        shown += 1
    if shown < len(rows):
        text += f"\n\n_{len(rows) - shown} more changed resource(s) left out to stay under GitHub's {COMMENT_LIMIT:,}-character comment limit; the totals above count them all._"
    return text + "\n"

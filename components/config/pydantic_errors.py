"""pydantic's validation errors, told as modelstack's ConfigErrors: the full key path
(`modelstack:services.diabetes.deploy.port`), the rule and the fix, with suggestions for
misspelt keys and a hint when a deploy parameter belongs to another target."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from components.config.schema import (
    DEPLOY_MODELS,
    NAMESPACE,
    SECRET_FIELDS,
    TOP_LEVEL_KEYS,
    AcrRegistrySpec,
    LocalRegistrySpec,
    StackConfig,
    config_key,
)
from components.errors import ConfigError, number_text
from components.targets.registry import DEFAULT_TARGET

# What pydantic puts in an error's location for a member of a union: the deploy parameters' class
# names, and the registry kinds (the registry union's discriminator).
_UNION_MEMBER_NAMES = {model.__name__ for model in DEPLOY_MODELS.values()} | {
    kind for spec in (LocalRegistrySpec, AcrRegistrySpec) for kind in get_args(spec.model_fields["kind"].annotation)
}


def _known_fields(model: type[BaseModel] | None) -> list[str]:
    return list(model.model_fields) if model else []


def _unwrap(annotation: Any, node: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (dict,):
        return _DictOf(get_args(annotation)[1])
    if origin in (list,):
        return _DictOf(get_args(annotation)[0])
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0], node)
    if origin is Union or str(origin) == "types.UnionType":
        for arg in get_args(annotation):
            if arg is type(None):
                continue
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                kind = node.get("kind") if isinstance(node, dict) else None
                if (
                    kind is None
                    or arg.model_fields.get("kind") is None
                    or kind in str(arg.model_fields["kind"].annotation)
                ):
                    return arg
            else:
                unwrapped = _unwrap(arg, node)
                if unwrapped is not None:
                    return unwrapped
        return None
    return annotation


class _DictOf:
    """Marks 'a mapping (or list) of X' while walking an error location."""

    def __init__(self, item: Any):
        self.item = item


def _walk_model(loc: tuple) -> Any:
    """Follow an error location through the schema; returns the model owning the last part."""
    current: Any = StackConfig
    for part in loc[:-1]:
        if isinstance(current, _DictOf):
            current = current.item
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = _unwrap(current.model_fields[part].annotation, None)
        else:
            return None
    if isinstance(current, _DictOf):
        return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _deploy_hint(field: str, loc: tuple, values: dict[str, Any]) -> str | None:
    """'cpu_cores_limit' under an ACI service: say which target it belongs to."""
    if "deploy" not in loc:
        return None
    owners = [target for target, model in DEPLOY_MODELS.items() if field in model.model_fields]
    if not owners:
        return None
    service = values.get("services", {}).get(loc[1], {}) if len(loc) > 1 and loc[0] == "services" else {}
    target = service.get("target", DEFAULT_TARGET) if isinstance(service, dict) else DEFAULT_TARGET
    return f"'{field}' is a deploy parameter of target {' and '.join(owners)}, not of target '{target}'"


# An input is quoted in a message up to this many characters (a 10,000-item list is not).
SHOWN_INPUT_CHARS = 80


def shown_input(value: Any, loc: tuple) -> str:
    """'is <the value>', as a message shows it: a secret field's value never, whatever its
    type (only the type is named); a long value cut short."""
    if any(str(part) in SECRET_FIELDS for part in loc):
        return f"is a {type(value).__name__} (value not shown: it is a secret)"
    text = repr(value)
    if len(text) > SHOWN_INPUT_CHARS:
        text = text[: SHOWN_INPUT_CHARS - 3] + "..."
    return f"is {text}"


def from_pydantic(error: Mapping[str, Any], values: dict[str, Any]) -> ConfigError:
    # pydantic puts a union member's name (or a discriminator tag) into the location; drop it
    loc = tuple(p for p in error["loc"] if p not in _UNION_MEMBER_NAMES)
    key = config_key(*loc)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        field = str(loc[-1])
        hint = _deploy_hint(field, loc, values)
        if hint:
            return ConfigError(
                "unknown key", key=key, rule=hint, fix=f"remove '{field}', or change the service's target"
            )
        known = _known_fields(_walk_model(loc))
        close = difflib.get_close_matches(field, known, n=1, cutoff=0.6)
        fix = f"did you mean '{close[0]}'? Rename it" if close else f"remove it; known keys here: {', '.join(known)}"
        return ConfigError(
            "unknown key", key=key, rule="only documented keys are accepted (docs/configuration.md)", fix=fix
        )
    if kind == "missing":
        return ConfigError("is required", key=key, rule=f"'{loc[-1]}' has no default", fix=f"set {key}")
    if kind == "literal_error":
        return ConfigError(
            shown_input(error.get("input"), loc),
            key=key,
            rule=f"must be one of {ctx.get('expected')}",
            fix=f"set it to one of {ctx.get('expected')}",
        )
    if kind == "union_tag_invalid":
        return ConfigError(
            f"kind {shown_input(ctx.get('tag'), loc)}",
            key=key,
            rule=f"kind must be one of {ctx.get('expected_tags')}",
            fix="set kind: local (a registry on this machine) or kind: acr (Azure Container Registry)",
        )
    if kind == "union_tag_not_found":
        return ConfigError(
            "has no 'kind'", key=key, rule="a registry names its kind", fix="add kind: local or kind: acr"
        )
    if kind in ("too_short", "string_too_short") and any(str(part) in SECRET_FIELDS for part in loc):
        return ConfigError(
            "is empty",
            key=key,
            rule="a key, password, connection string or kubeconfig that is set is not empty",
            fix=f"pulumi config set --secret --path '{key}' <value>, or remove {key}",
        )
    bound = {name: number_text(ctx.get(name)) for name in ("gt", "ge", "le", "lt")}
    bounds = {
        "greater_than": f"must be greater than {bound['gt']}",
        "greater_than_equal": f"must be at least {bound['ge']}",
        "less_than_equal": f"must be at most {bound['le']}",
        "less_than": f"must be less than {bound['lt']}",
        "too_short": f"needs at least {ctx.get('min_length')} item(s)",
    }
    shown = shown_input(error.get("input"), loc)
    if kind in bounds:
        return ConfigError(
            shown,
            key=key,
            rule=bounds[kind],
            fix=f"set {key} to a value that {bounds[kind].replace('must be', 'is').replace('needs', 'has')}",
        )
    if kind in ("int_type", "float_type") and isinstance(error.get("input"), bool):
        return ConfigError(
            shown,
            key=key,
            rule="a number is a number: true and false are not numbers",
            fix=f"set {key} to a number (without quotes)",
        )
    if kind == "bool_type":
        return ConfigError(
            shown,
            key=key,
            rule="a boolean is true or false, unquoted (1, 0, yes, on and 'true' are not booleans, as for the engine)",
            fix=f"set {key} to true or false, without quotes",
        )
    if kind == "finite_number":
        return ConfigError(
            shown, key=key, rule="numbers are finite: nan and inf are not accepted", fix=f"set {key} to a finite number"
        )
    if kind in ("int_type", "float_type") and isinstance(error.get("input"), str):
        return ConfigError(
            shown, key=key, rule="must be a number, not text", fix=f"set {key} to a number without quotes"
        )
    return ConfigError(shown, key=key, rule=error["msg"].lower().replace("input should", "must"), fix=f"correct {key}")


def check_top_level_keys(values: dict[str, Any]) -> list[ConfigError]:
    errors = []
    for key in values:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1, cutoff=0.6)
            fix = (
                f"did you mean 'modelstack:{close[0]}'? Rename it"
                if close
                else f"remove it; known keys: {', '.join('modelstack:' + k for k in TOP_LEVEL_KEYS)}"
            )
            errors.append(
                ConfigError(
                    "unknown key",
                    key=f"{NAMESPACE}:{key}",
                    rule="only documented keys are accepted (docs/configuration.md)",
                    fix=fix,
                )
            )
    return errors


def dedupe(errors: list[ConfigError]) -> list[ConfigError]:
    seen, unique = set(), []
    for error in errors:
        if str(error) not in seen:
            seen.add(str(error))
            unique.append(error)
    return unique

"""Errors a user can act on.

Every error modelstack raises for bad input or a missing prerequisite is a
`ModelstackError`: it carries the config key (or thing) at fault, the rule that was
broken and the fix, and the command line prints it without a traceback.
"""

from __future__ import annotations


def number_text(value) -> str:
    """A number as a person writes it in a message: 2.0 -> '2', 0.5 -> '0.5'."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


class ModelstackError(Exception):
    """An error whose message is meant for the user, not for a debugger."""

    def __init__(self, message: str, *, key: str | None = None, rule: str | None = None, fix: str | None = None):
        self.key = key
        self.rule = rule
        self.fix = fix
        self.detail = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        return compose(self.detail, self.key, self.rule, self.fix)


def compose(detail: str, key: str | None, rule: str | None, fix: str | None) -> str:
    """'key: detail', then the rule and the fix on lines of their own."""
    parts = [f"{key}: {detail}" if key else detail]
    if rule:
        parts.append(f"Rule: {rule}")
    if fix:
        parts.append(f"Fix: {fix}")
    return "\n  ".join(parts)


class ConfigError(ModelstackError):
    """Stack configuration that breaks a rule; raised before any resource exists."""


class ConfigWarning:
    """Configuration that is allowed but may not work as meant (a service that may not fit its
    cluster at its maximum replicas): `check` prints it, `pulumi preview`/`up` log it, neither fails."""

    def __init__(self, message: str, *, key: str | None = None, rule: str | None = None, fix: str | None = None):
        self.detail, self.key, self.rule, self.fix = message, key, rule, fix

    def __str__(self) -> str:
        return compose(self.detail, self.key, self.rule, self.fix)

    def __repr__(self) -> str:
        return f"ConfigWarning({str(self)!r})"


class ConfigErrors(ModelstackError):
    """Several configuration errors found in one pass, reported together."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))

    def _compose(self) -> str:  # the list itself is the message
        return self.detail


class DockerUnavailableError(ModelstackError):
    """The Docker daemon cannot be reached."""


class BuildError(ModelstackError):
    """An image build or push failed."""


class DeploymentError(ModelstackError):
    """A webservice did not become healthy."""

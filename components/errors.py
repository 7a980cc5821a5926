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
        parts = []
        if self.key:
            parts.append(f"{self.key}: {self.detail}")
        else:
            parts.append(self.detail)
        if self.rule:
            parts.append(f"Rule: {self.rule}")
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return "\n  ".join(parts)


class ConfigError(ModelstackError):
    """Stack configuration that breaks a rule; raised before any resource exists."""


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

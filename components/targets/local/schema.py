"""The deploy parameters of `target: local` (Azure ML's LocalWebservice)."""

from __future__ import annotations

from components.config.fields import PORT_MAX, Strict, count


class LocalDeploy(Strict):
    """`LocalWebservice.deploy_configuration(port)`; a free port is picked when unset."""

    port: count(1, PORT_MAX) | None = None


DEPLOY = LocalDeploy

"""The deploy parameters of `target: local` (Azure ML's LocalWebservice)."""

from __future__ import annotations

from typing import Annotated

from components.config.fields import PORT_MAX, Strict, int_range


class LocalDeploy(Strict):
    """`LocalWebservice.deploy_configuration(port)`; a free port is picked when unset."""

    port: Annotated[int, int_range(1, PORT_MAX)] | None = None


DEPLOY = LocalDeploy

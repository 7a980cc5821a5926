"""The deploy parameters of `target: aks`: AksWebservice's, the same as on any cluster
(components.targets.kubernetes.schema)."""

from __future__ import annotations

from components.targets.kubernetes.schema import AksDeploy

DEPLOY = AksDeploy

"""AcaWebservice: one service as a container app in the stack's Container Apps environment.

- The container runs the service's image (by digest), pulled from the stack's registry with the
  platform's user-assigned pull identity (which holds AcrPull); no registry password exists.
- Ingress is HTTPS on Azure's FQDN for the app, forwarded to the scoring server's port;
  `external` opens it to the internet, `allow_insecure` also answers plain HTTP.
- The keys are secrets of the app, and the scoring server's environment variables refer to them
  by name: their values never sit in the template, the plan or the revision's environment.
- Scale: `min_replicas`..`max_replicas` replicas, with an HTTP rule that adds one when each has
  more than `concurrent_requests` requests in flight; `min_replicas: 0` scales to zero.
- Probes call the scoring server's health route: a startup probe gives init() as long as Azure
  ML's liveness delay (about 300 s) to load the model, then liveness and readiness take over.

`scoring_uri` and `swagger_uri` are https://<fqdn>/score and /swagger.json, and `state` is Azure
ML's name for what Container Apps reports (components.targets.aca.states).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import app

from components.config import naming
from components.errors import number_text
from components.targets.aca import names
from components.targets.aca.environment import CONSUMPTION_PROFILE, AcaEnvironment
from components.targets.aca.schema import AcaDeploy
from components.targets.aca.states import SERVICE_TAG, aca_state
from components.targets.keys import (
    AUTH_ENABLED_ENV,
    PRIMARY_KEY_ENV,
    SECONDARY_KEY_ENV,
    ServiceKeys,
    metrics_environment,
)
from modelstack_server.contract import (
    HEALTH_ROUTE,
    PORT,
    SCORE_ROUTE,
    SCORING_TIMEOUT_ENV,
    SWAGGER_ROUTE,
    WORKER_COUNT_ENV,
)

# The app's secrets (names: lowercase letters, digits, '-' and '.'), referred to by the variables.
PRIMARY_KEY_SECRET = "primary-key"
SECONDARY_KEY_SECRET = "secondary-key"
HTTP_SCALE_RULE = "http-requests"
# One revision at a time: an update replaces the revision, traffic moves when the new one is ready.
REVISIONS_MODE = "Single"
INGRESS_TRANSPORT = "http"  # the scoring server speaks HTTP/1.1
# The scoring server's concurrency and timeout, as on ACI (Azure ML's defaults): one worker, one
# run() at a time per replica; Container Apps adds replicas for more.
WORKER_COUNT = 1
SCORING_TIMEOUT_MS = 60_000
# Container Apps allows at most 60 s of initial delay and 10 failures; a startup probe every 30 s
# for 10 failures gives init() about 300 s, as Azure ML's 310 s liveness delay does.
STARTUP_PROBE = {"initial_delay_seconds": 5, "period_seconds": 30, "timeout_seconds": 2, "failure_threshold": 10}
LIVENESS_PROBE = {"period_seconds": 10, "timeout_seconds": 2, "failure_threshold": 3}
READINESS_PROBE = {"period_seconds": 5, "timeout_seconds": 2, "success_threshold": 1, "failure_threshold": 3}


# --- pure decisions -------------------------------------------------------------------------------


def memory_quantity(memory_gb: float) -> str:
    """Container Apps' memory: a number with at most two decimals and 'Gi' (1 -> '1Gi', 1.5 -> '1.5Gi')."""
    return f"{number_text(round(memory_gb, 2))}Gi"


def endpoint_uris(fqdn: str | None) -> dict[str, str | None]:
    """Ingress terminates TLS on 443 for the app's FQDN, whatever the container's port."""
    if not fqdn:
        return {"scoring_uri": None, "swagger_uri": None}
    return {"scoring_uri": f"https://{fqdn}{SCORE_ROUTE}", "swagger_uri": f"https://{fqdn}{SWAGGER_ROUTE}"}


def plain_environment(deploy: AcaDeploy) -> list[app.EnvironmentVarArgs]:
    settings = {
        AUTH_ENABLED_ENV: "true" if deploy.auth_enabled else "false",
        SCORING_TIMEOUT_ENV: str(SCORING_TIMEOUT_MS),
        WORKER_COUNT_ENV: str(WORKER_COUNT),
        **metrics_environment(deploy),
    }
    return [app.EnvironmentVarArgs(name=name, value=value) for name, value in sorted(settings.items())]


def key_secrets(keys: ServiceKeys | None) -> tuple[list[app.SecretArgs], list[app.EnvironmentVarArgs]]:
    """The keys as the app's secrets, and the variables that refer to them."""
    if keys is None or keys.primary is None or keys.secondary is None:
        return [], []
    pairs = (
        (PRIMARY_KEY_ENV, PRIMARY_KEY_SECRET, keys.primary),
        (SECONDARY_KEY_ENV, SECONDARY_KEY_SECRET, keys.secondary),
    )
    secrets = [app.SecretArgs(name=secret, value=pulumi.Output.secret(value)) for _, secret, value in pairs]
    variables = [app.EnvironmentVarArgs(name=variable, secret_ref=secret) for variable, secret, _ in pairs]
    return secrets, variables


def probes() -> list[app.ContainerAppProbeArgs]:
    def probe(kind: str, settings: dict[str, int]) -> app.ContainerAppProbeArgs:
        return app.ContainerAppProbeArgs(
            type=kind,
            http_get=app.ContainerAppProbeHttpGetArgs(path=HEALTH_ROUTE, port=PORT, scheme="HTTP"),
            initial_delay_seconds=settings.get("initial_delay_seconds"),
            period_seconds=settings["period_seconds"],
            timeout_seconds=settings["timeout_seconds"],
            success_threshold=settings.get("success_threshold"),
            failure_threshold=settings["failure_threshold"],
        )

    return [probe("Startup", STARTUP_PROBE), probe("Liveness", LIVENESS_PROBE), probe("Readiness", READINESS_PROBE)]


def scale(deploy: AcaDeploy) -> app.ScaleArgs:
    rule = app.ScaleRuleArgs(
        name=HTTP_SCALE_RULE,
        http=app.HttpScaleRuleArgs(metadata={"concurrentRequests": str(deploy.concurrent_requests)}),
    )
    return app.ScaleArgs(min_replicas=deploy.min_replicas, max_replicas=deploy.max_replicas, rules=[rule])


def _field(value: Any, name: str) -> Any:
    if value is None:
        return None
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def ingress_fqdn(configuration: Any) -> str | None:
    return _field(_field(configuration, "ingress"), "fqdn")


# --- the component ------------------------------------------------------------------------------


class AcaWebservice(pulumi.ComponentResource):
    """One service on Container Apps: `scoring_uri`, `swagger_uri`, `state`, `fqdn`, `app_name`."""

    scoring_uri: pulumi.Output[str | None]  # None while the app has no FQDN
    swagger_uri: pulumi.Output[str | None]
    state: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        service: str,
        project: str,
        stack: str,
        deploy: AcaDeploy,
        image: pulumi.Input[str],
        keys: ServiceKeys | None,
        platform,  # components.targets.azure.platform.AzurePlatform
        environment: AcaEnvironment,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "cpu_cores": deploy.cpu_cores,
            "memory_gb": deploy.memory_gb,
            "auth_enabled": deploy.auth_enabled,
            "min_replicas": deploy.min_replicas,
            "max_replicas": deploy.max_replicas,
            "external": deploy.external,
            "allow_insecure": deploy.allow_insecure,
            "properties": dict(deploy.properties),
            "description": deploy.description,
        }
        super().__init__("modelstack:aca:AcaWebservice", name, props, opts)
        pull_identity = platform.registry.pull_identity_id
        secrets, secret_variables = key_secrets(keys)
        self.app_name = names.app_name(project, stack, service, deploy.app_name)
        arguments = app.ContainerAppArgs(
            container_app_name=self.app_name,
            resource_group_name=platform.resource_group_name,
            location=platform.location,
            environment_id=environment.environment_id,
            workload_profile_name=CONSUMPTION_PROFILE,
            identity=app.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[pull_identity]),
            configuration=app.ConfigurationArgs(
                active_revisions_mode=REVISIONS_MODE,
                ingress=app.IngressArgs(
                    external=deploy.external,
                    target_port=PORT,
                    transport=INGRESS_TRANSPORT,
                    allow_insecure=deploy.allow_insecure,
                    traffic=[app.TrafficWeightArgs(latest_revision=True, weight=100)],
                ),
                registries=[app.RegistryCredentialsArgs(server=platform.login_server, identity=pull_identity)],
                secrets=secrets or None,
            ),
            template=app.TemplateArgs(
                containers=[
                    app.ContainerArgs(
                        name=service,
                        image=image,
                        resources=app.ContainerResourcesArgs(
                            cpu=deploy.cpu_cores, memory=memory_quantity(deploy.memory_gb)
                        ),
                        env=plain_environment(deploy) + secret_variables,
                        probes=probes(),
                    )
                ],
                scale=scale(deploy),
            ),
            tags=naming.merge_tags(deploy.tags, platform.tags, {SERVICE_TAG: service}),
        )
        # The identity pulls the image as the app is created: its AcrPull grant comes first.
        grant = [platform.registry.pull_role_assignment] if platform.registry.pull_role_assignment is not None else []
        self.container_app = app.ContainerApp(
            f"{name}-app", arguments, opts=pulumi.ResourceOptions(parent=self, depends_on=grant)
        )
        # The configuration is secret as a whole (it holds the keys); the FQDN within it is not.
        self.fqdn = pulumi.Output.unsecret(self.container_app.configuration.apply(ingress_fqdn))
        self.state = pulumi.Output.all(self.container_app.provisioning_state, self.container_app.running_status).apply(
            lambda values: aca_state(values[0], values[1])
        )
        uris = self.fqdn.apply(endpoint_uris)
        self.scoring_uri = uris.apply(lambda u: u["scoring_uri"])
        self.swagger_uri = uris.apply(lambda u: u["swagger_uri"])
        self.register_outputs(
            {
                "scoring_uri": self.scoring_uri,
                "swagger_uri": self.swagger_uri,
                "state": self.state,
                "fqdn": self.fqdn,
                "app_name": self.app_name,
            }
        )

"""Request telemetry to Application Insights (`enable_app_insights`): one Request item per call
(name, URL, status, duration, request id), sent in batches in the background by Azure Monitor's
OpenTelemetry exporter to the ingestion endpoint of the connection string the stack passes as a
secret (MODELSTACK_APP_INSIGHTS_CONNECTION_STRING).

This module is imported only when that variable is set: without it the server loads neither
OpenTelemetry nor the exporter and sends nothing. The exporter's own usage reporting to Microsoft
(statsbeat) is off unless the environment turns it on, so the only place telemetry goes is the
one the connection string names.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("modelstack.telemetry")

STATSBEAT_OFF_ENV = "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"
# Items are sent when this many are waiting, or after this long, whichever comes first.
BATCH_SIZE = 100
BATCH_DELAY_MILLIS = 2000
# The Request item's custom dimension naming the rollout version that answered (x-modelstack-version).
VERSION_ATTRIBUTE = "modelstack.version"


class RequestTelemetry:
    def __init__(self, connection_string: str, service_name: str):
        os.environ.setdefault(STATSBEAT_OFF_ENV, "true")
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind

        self._server = SpanKind.SERVER
        # A provider of our own, not the global one: an entry script's own tracing is left alone.
        self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        exporter = AzureMonitorTraceExporter(connection_string=connection_string, disable_offline_storage=True)
        self._provider.add_span_processor(
            BatchSpanProcessor(exporter, max_export_batch_size=BATCH_SIZE, schedule_delay_millis=BATCH_DELAY_MILLIS)
        )
        self._tracer = self._provider.get_tracer("modelstack_server")

    def record(
        self,
        *,
        method: str,
        path: str,
        url: str,
        status: int,
        start_ns: int,
        end_ns: int,
        request_id: str | None,
        version: str | None = None,
    ) -> None:
        """One Request item; never raises into the request that it describes."""
        try:
            attributes: dict[str, str | int] = {
                "http.method": method,
                "http.route": path,
                "http.url": url,
                "http.status_code": status,
            }
            if request_id:
                attributes["request.id"] = request_id
            if version:
                attributes[VERSION_ATTRIBUTE] = version  # the rollout version that answered
            span = self._tracer.start_span(
                f"{method} {path}", kind=self._server, start_time=start_ns, attributes=attributes
            )
            span.end(end_time=end_ns)
        except Exception:  # telemetry must not fail a scoring request
            logger.exception("could not record request telemetry")

    def shutdown(self) -> None:
        """Send what is waiting (at exit)."""
        try:
            self._provider.shutdown()
        except Exception:
            logger.exception("could not flush request telemetry")

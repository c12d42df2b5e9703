"""The HTTP entry point's own metrics: requests by route and status, their latency, and
commands by outcome (Prometheus, in the registry ``/metrics`` serves).

Routes are labelled by their template (``/reservations/{reservation_id}``), never by the
path asked for (one series per reservation would grow without bound); a request no route
matched is labelled ``unmatched``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
COMMAND_OUTCOMES = ("committed", "duplicate", "refused", "conflict", "failed")


class HttpMetrics:
    """``eventfold_http_requests_total{method,route,status}``,
    ``eventfold_http_request_duration_seconds{method,route}`` and
    ``eventfold_commands_total{outcome}``; :meth:`command` is the services' command
    handlers' :data:`~eventfold.core.app.handler.OutcomeCounter`."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "eventfold_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "eventfold_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.commands = Counter(
            "eventfold_commands",
            "Commands handled, by outcome: committed, duplicate (an Idempotency-Key's "
            "earlier commit answered), refused (a rule, invalid, not found), conflict, failed.",
            ["outcome"],
            registry=registry,
        )
        # Each labelled series, looked up once: labels() costs more than the increment.
        # The keys are bounded (route templates, statuses, outcomes), never paths.
        self._outcomes = {outcome: self.commands.labels(outcome) for outcome in COMMAND_OUTCOMES}
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def command(self, outcome: str) -> None:
        # The handlers count COMMAND_OUTCOMES only; another outcome gets its series anyway.
        (self._outcomes.get(outcome) or self.commands.labels(outcome)).inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)

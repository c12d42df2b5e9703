"""The public API, pinned: each facade's exported names. A change here is a change of the
API that services import (``eventfold``, ``eventfold.web``, ...): make it on purpose, and
update the list in the same commit, saying why."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

EXPORTED: dict[str, list[str]] = {
    "eventfold": [
        "Actor",
        "CodecError",
        "CommandHandler",
        "Commit",
        "ConcurrencyConflict",
        "ConfigurationError",
        "Decider",
        "DeliveryFailed",
        "EventCodec",
        "EventData",
        "EventStore",
        "EventTypes",
        "EventfoldError",
        "Forbidden",
        "IdempotencyKeyReused",
        "InvalidCommand",
        "Issue",
        "IssuerUnavailable",
        "JsonCodec",
        "NotYetVisible",
        "Origin",
        "Outcome",
        "OutcomeCounter",
        "RecordedEvent",
        "RuleViolated",
        "Session",
        "Snapshot",
        "SqliteEventStore",
        "StoreError",
        "StoreLimitExceeded",
        "StoreUnavailable",
        "StreamNotFound",
        "StreamWrite",
        "Unauthenticated",
        "UnknownEventType",
        "Upcaster",
        "Validation",
        "VersionNotFound",
        "category_of",
        "entity_id_of",
        "invalid",
        "new_id",
        "service_actor",
    ],
    "eventfold.web": [
        "Authentication",
        "BackgroundRunner",
        "Caller",
        "ClaimNames",
        "CommandOrigin",
        "FastPathRoute",
        "IdempotencyKey",
        "Job",
        "JobsFactory",
        "JsonInt",
        "LocalSigningKey",
        "PUBLIC",
        "QueryRunner",
        "ReadYourWrites",
        "RoutesFactory",
        "Service",
        "ServiceContext",
        "StopRunner",
        "SubscriptionsFactory",
        "TokenVerifier",
        "create_app",
        "include_routes",
        "installed_services",
        "job_seconds",
        "jwks_verifier",
        "mail_sender",
        "migrate_query_model",
        "query_engine",
        "query_runner",
        "read_wait_seconds",
        "read_your_writes",
        "require_role",
        "store_reader",
        "store_runner",
        "webhook_url",
    ],
    "eventfold.sql": [
        "AppliedRevision",
        "PreparedRead",
        "ProjectionHandler",
        "Rows",
        "SqlEffectsLedger",
        "SqlProjection",
        "SqlRebuild",
        "alembic_config",
        "create_engine",
        "effects_table",
        "json_array",
        "json_row",
        "migrate",
        "one_statement_reads",
        "schema_differences",
        "sqlite_url",
        "versions_table",
        "write_transaction",
    ],
    "eventfold.router": [
        "AppliedVersions",
        "BEGINNING",
        "Checkpoints",
        "EventFilter",
        "Feed",
        "FeedBatch",
        "Lag",
        "MemoryRouterState",
        "NullObserver",
        "OutagePolicy",
        "ParkedStream",
        "ParkingLot",
        "RebuildSession",
        "Rebuildable",
        "RetryPolicy",
        "RouterObserver",
        "StreamBehind",
        "Subscription",
        "SubscriptionRunner",
        "Target",
        "TracksVersions",
        "Worker",
        "applied_version",
        "audit",
        "heal",
        "rebuild",
        "wait_until_applied",
    ],
    "eventfold.targets": [
        "Effect",
        "EffectPerformer",
        "EffectsLedger",
        "Email",
        "IDEMPOTENCY_KEY_HEADER",
        "MailFolder",
        "MailSink",
        "MemoryEffectsLedger",
        "PayloadEncoder",
        "Reaction",
        "ReactionHandler",
        "SmtpMailer",
        "WebhookCall",
        "WebhookSender",
        "idempotency_key",
        "json_payload",
        "mail_sink_runner",
        "start_mail_sink",
        "webhook_target",
    ],
    "eventfold.codecs": [
        "EnvelopeFields",
        "EventCodec",
        "JSON_CONTENT_TYPE",
        "JsonCodec",
        "OutboundFormat",
        "PROTOBUF_CONTENT_TYPE",
        "ProtobufCodec",
        "PublishesEnvelopes",
        "encode_outbound",
        "outbound_text",
    ],
    "eventfold.aws": [
        "BadProxyEvent",
        "DynamoDBEventStore",
        "DynamoDBRouterState",
        "KinesisFeed",
        "LambdaEntryPoints",
        "LambdaHandler",
        "LambdaTarget",
        "MessageTarget",
        "OutboundMessage",
        "PipeHandler",
        "RouterHandlers",
        "SqsFeed",
        "StepFunctionsTarget",
        "TableNames",
        "dynamodb_client",
        "event_of_invocation",
        "event_of_message",
        "execution_name",
        "http_handler",
        "jobs_handler",
        "kinesis_feed",
        "lambda_client",
        "lambda_entry_points",
        "lambda_target",
        "message_target",
        "outbound_message",
        "queue_feed",
        "router_handlers",
        "sns_client",
        "sns_target",
        "sqs_client",
        "sqs_target",
        "step_functions_client",
        "step_functions_target",
    ],
    "eventfold.testing": [
        "DeciderSpec",
        "TokenIssuer",
        "WorkflowSpec",
        "spec",
        "to_plain",
        "workflow_spec",
    ],
    "eventfold.errors": [
        "CodecError",
        "ConcurrencyConflict",
        "ConfigurationError",
        "DeliveryFailed",
        "EventfoldError",
        "Forbidden",
        "IdempotencyKeyReused",
        "InvalidCommand",
        "Issue",
        "IssuerUnavailable",
        "NotYetVisible",
        "RuleViolated",
        "StoreError",
        "StoreLimitExceeded",
        "StoreUnavailable",
        "StreamNotFound",
        "Unauthenticated",
        "UnknownEventType",
        "VersionNotFound",
    ],
    # Workflows (issue 13): definition (domain kit), runner (core), deadline indexes.
    "eventfold.workflows": [
        "Action",
        "Call",
        "CallPerformer",
        "CallRefused",
        "ClearDeadline",
        "DeadlineIndex",
        "DeadlineReached",
        "Dispatch",
        "Fail",
        "Finish",
        "Forgive",
        "INSTANCE_EVENTS",
        "Instance",
        "MemoryDeadlineIndex",
        "Owe",
        "PlannedStep",
        "REFUSALS",
        "Send",
        "SetDeadline",
        "SqlDeadlineIndex",
        "Status",
        "StepCompleted",
        "StepRefused",
        "Workflow",
        "WorkflowAdvanced",
        "WorkflowCodec",
        "WorkflowRunner",
        "deadlines_table",
        "instance_decider",
    ],
}


@pytest.mark.parametrize("facade", sorted(EXPORTED))
def test_each_facade_exports_exactly_its_pinned_names(facade: str) -> None:
    module = importlib.import_module(facade)
    assert sorted(module.__all__) == EXPORTED[facade]
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []  # every exported name is there to import


HELPERS_AND_INTERNALS = (
    "fingerprint",
    "to_plain",
    "from_plain",
    "snake_case",
    "message_to_plain",
    "message_id",
    "outbound_format",
    "Router",
    "Delivery",
    "Stopping",
)
"""Names that were once exported and are not the API: helpers of eventfold's own adapters
and the router's internals (a service subscribes and lets the worker route). ``to_plain``
is a test helper (``eventfold.testing``)."""


@pytest.mark.parametrize("facade", sorted(set(EXPORTED) - {"eventfold.testing"}))
def test_helpers_and_router_internals_are_not_exported(facade: str) -> None:
    module = importlib.import_module(facade)
    leaked = [name for name in HELPERS_AND_INTERNALS if hasattr(module, name)]
    assert leaked == []


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_reference_services_import_only_pinned_names() -> None:
    """The services are the API's first users: what they import from a facade is in its
    pinned list (a name they need is a name to pin, not to reach for below)."""
    imported: set[tuple[str, str]] = set()
    for path in EXAMPLES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eventfold"):
                imported |= {(node.module or "", alias.name) for alias in node.names}
    assert imported  # the scan found the services' imports
    unpinned = sorted(
        f"{module}.{name}"
        for module, name in imported
        if module in EXPORTED and name not in EXPORTED[module]
    )
    assert unpinned == []
    assert {module for module, _ in imported} <= set(EXPORTED)

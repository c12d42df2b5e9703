"""Every AWS API call a client makes, recorded through botocore's event hooks and named as
the IAM actions and resources that authorise it.

``AwsCalls.watch(client)`` registers a ``before-parameter-build`` handler on the client's
own event system (``client.meta.events``): botocore calls it with the operation's
parameters before each request, so nothing is patched. Each call becomes the IAM
(action, resource ARN) pairs AWS checks for it: a ``TransactWriteItems`` is a ``PutItem``
(``UpdateItem``, ``DeleteItem``, ``ConditionCheckItem``) on each item's table, a
``BatchGetItem`` one ``BatchGetItem`` per table (IAM has no transaction actions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Grant = tuple[str, str]
"""(IAM action, resource ARN)."""

_TRANSACT_WRITE = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
_ONE_TABLE = {
    "DescribeTable",
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
}


@dataclass
class AwsCalls:
    """The grants the watched clients' calls needed; ``table_arn`` names a table's ARN."""

    table_arn: Callable[[str], str]
    grants: set[Grant] = field(default_factory=set)
    operations: list[str] = field(default_factory=list)

    def watch(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-parameter-build.{service}", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        self.operations.append(f"{service}:{operation}")
        if service != "dynamodb":
            raise AssertionError(f"no IAM mapping for {service}:{operation}: add one here")
        self.grants.update(self._dynamodb(operation, params))

    def _dynamodb(self, operation: str, params: dict[str, Any]) -> Iterable[Grant]:
        if operation in _ONE_TABLE:
            yield f"dynamodb:{operation}", self.table_arn(params["TableName"])
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table in params["RequestItems"]:
                yield f"dynamodb:{operation}", self.table_arn(table)
        elif operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, request),) = item.items()
                yield _TRANSACT_WRITE[kind], self.table_arn(request["TableName"])
        elif operation == "TransactGetItems":
            for item in params["TransactItems"]:
                yield "dynamodb:GetItem", self.table_arn(item["Get"]["TableName"])
        else:
            raise AssertionError(f"no IAM mapping for dynamodb:{operation}: add one here")


def granted(policies: dict[str, dict[str, Any]], name: str = "handler") -> set[Grant]:
    """The (action, resource) pairs the named inline policy allows (no wildcards: a
    handler policy names its actions and resources)."""
    pairs: set[Grant] = set()
    for statement in policies[name]["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in [resources] if isinstance(resources, str) else resources:
                assert "*" not in action + resource, (action, resource)
                pairs.add((action, resource))
    return pairs

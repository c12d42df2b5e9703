"""Types for request bodies that say in OpenAPI exactly what the server accepts."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def _whole_float(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer (and generators send it); strict models refused it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_whole_float)]
"""An integer as JSON Schema counts them: ``3`` and ``3.0``, never ``"3"`` or ``true``
(also in a ``strict`` model)."""

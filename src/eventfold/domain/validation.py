"""Validation that reports every issue of a command at once (seed 002's combineWithAllErrors).

Value objects check themselves in ``__post_init__`` and raise :class:`InvalidCommand` (or a
plain ``ValueError``); a :class:`Validation` builds each field, collects what went wrong
under the field's path, and raises one error listing all of it::

    v = Validation()
    name = v.field("name", ItemName, raw["name"])
    price = v.field("price", Price, raw["price"])
    v.check(len(tags) <= 5, "tags", "at most 5 tags")
    v.raise_if_invalid()
    return RegisterItem(name, price)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from eventfold.errors import InvalidCommand, Issue

T = TypeVar("T")


def invalid(message: str, *, path: str = "", code: str = "invalid") -> InvalidCommand:
    """An InvalidCommand with one issue, for value objects to raise."""
    return InvalidCommand([Issue(path, message, code)])


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix and path else prefix or path


class Validation:
    """Collects issues across fields; raises them together."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def field(self, path: str, build: Callable[..., T], *args: Any) -> T:
        """``build(*args)``, recording its failure under ``path``.

        On failure the returned value is a placeholder (None): call
        :meth:`raise_if_invalid` before using it.
        """
        try:
            return build(*args)
        except InvalidCommand as exc:
            self.issues.extend(Issue(_join(path, i.path), i.message, i.code) for i in exc.issues)
        except (ValueError, TypeError) as exc:
            self.issues.append(Issue(path, str(exc)))
        return cast(T, None)

    def check(self, ok: bool, path: str, message: str, code: str = "invalid") -> bool:
        if not ok:
            self.issues.append(Issue(path, message, code))
        return ok

    def add(self, issue: Issue) -> None:
        self.issues.append(issue)

    def raise_if_invalid(self) -> None:
        if self.issues:
            raise InvalidCommand(self.issues)

"""Test helpers shipped with eventfold: given/when/then for deciders and workflows,
:func:`to_plain` (the plain-data view of an event or command, for assertions), and bearer
tokens for HTTP tests (:class:`TokenIssuer`, which needs the ``[http]`` extra; the rest is
stdlib only)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from eventfold.domain.codecs import to_plain
from eventfold.domain.testing import DeciderSpec, WorkflowSpec, spec, workflow_spec
from eventfold.entry.extras import require_extra

if TYPE_CHECKING:
    from eventfold.entry.http.callers import Authentication, LocalSigningKey


class TokenIssuer:
    """Signs tokens for tests and gives the :class:`~eventfold.web.Authentication` that
    trusts them (pass it to ``create_app``). ``of_home``: the key ``eventfold run`` uses in
    that home folder, for tests of a server process. Making a key takes ~50 ms: share one
    issuer per test session."""

    def __init__(self, key: LocalSigningKey | None = None) -> None:
        require_extra("eventfold.testing.TokenIssuer", "http")
        from eventfold.entry.http.callers import Authentication, LocalSigningKey

        self.key = key or LocalSigningKey.generate()
        self.authentication: Authentication = Authentication(self.key.verifier())

    @classmethod
    def of_home(cls, home: Path) -> TokenIssuer:
        require_extra("eventfold.testing.TokenIssuer", "http")
        from eventfold.entry.http.callers import LocalSigningKey

        return cls(LocalSigningKey.in_home(home))

    def token(self, subject: str, *roles: str, stores: Iterable[str] = (), ttl: int = 3600) -> str:
        return self.key.sign(subject, roles, stores, ttl=ttl)

    def headers(self, subject: str, *roles: str, stores: Iterable[str] = ()) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for ``subject`` with ``roles``."""
        return {"Authorization": f"Bearer {self.token(subject, *roles, stores=stores)}"}


__all__ = ["DeciderSpec", "TokenIssuer", "WorkflowSpec", "spec", "to_plain", "workflow_spec"]

from __future__ import annotations

import pytest

from eventfold.core.redaction import redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("webhook http://user:s3cret@127.0.0.1:9/hook answered 500", "s3cret"),
        ("webhook https://s3cret@hooks.example/x: ConnectError", "s3cret"),
        ("Authorization: Bearer eyJhbGciOi.s3cret.sig refused", "s3cret"),
        ("header 'Basic dXNlcjpzM2NyZXQ=' is invalid", "dXNlcjpzM2NyZXQ"),
        ("https://hooks.example/x?token=s3cret&team=a", "s3cret"),
        ("https://hooks.example/x?a=1&api_key=s3cret#f", "s3cret"),
        ("https://hooks.example/x?sig=s3cret", "s3cret"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert "***" in masked


def test_text_without_secrets_is_unchanged() -> None:
    text = "webhook https://hooks.example/x?team=a answered 503: busy (user@example.com)"
    assert redact(text) == text

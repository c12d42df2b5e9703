"""Masking secrets in text that is logged or stored (failure reasons, park reasons).

A webhook URL may carry credentials (``https://user:pass@host/...``, ``?token=...``) and
a failing call may echo its ``Authorization`` header; :func:`redact` masks them before the
text reaches a log line or the router state that ``eventfold parked`` prints.
"""

from __future__ import annotations

import re

MASK = "***"

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
_SCHEME_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic|token|digest)(\s+)[A-Za-z0-9._~+/=-]+")
_SECRET_PARAMS = re.compile(
    r"(?i)([?&;](?:access_token|api_key|apikey|auth|code|key|pass|password|secret|sig|"
    r"signature|token)=)[^&\s#'\"]*"
)


def redact(text: str) -> str:
    """``text`` with URL credentials, bearer/basic tokens and secret-looking query
    parameters (``token=``, ``key=``, ...) replaced by ``***``."""
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _SCHEME_CREDENTIALS.sub(rf"\1\2{MASK}", text)
    return _SECRET_PARAMS.sub(rf"\1{MASK}", text)

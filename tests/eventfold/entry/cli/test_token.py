"""``eventfold token``: a token alone on stdout, signed with the key ``eventfold run``
verifies with; clear one-line errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app
from eventfold.testing import TokenIssuer


def invoke(home: Path, *args: str, **environ: str):  # type: ignore[no-untyped-def]
    context = CliContext(environ={"EVENTFOLD_HOME": str(home), **environ})
    return CliRunner().invoke(app, ["token", *args], obj=context)


def test_the_token_is_alone_on_stdout_and_verifies_with_the_homes_key(tmp_path: Path) -> None:
    result = invoke(tmp_path, "--role", "staff", "--subject", "clerk-7", "--store", "shibuya")
    assert result.exit_code == 0, result.output
    (token,) = result.stdout.splitlines()
    actor = TokenIssuer.of_home(tmp_path).authentication.actor_of_token(token)
    assert (actor.subject, actor.roles, actor.stores) == (
        "clerk-7",
        frozenset({"staff"}),
        frozenset({"shibuya"}),
    )


def test_several_roles_and_a_lifetime(tmp_path: Path) -> None:
    args = ["--role", "support", "--role", "operator", "--subject", "me", "--ttl", "60"]
    result = invoke(tmp_path, *args)
    assert result.exit_code == 0, result.output
    claims = TokenIssuer.of_home(tmp_path).key.verifier()(result.stdout.strip())
    assert claims["role"] == ["operator", "support"]
    assert claims["exp"] - claims["iat"] == 60


def test_a_bad_subject_is_one_line(tmp_path: Path) -> None:
    result = invoke(tmp_path, "--role", "customer", "--subject", "no spaces")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --subject 'no spaces' must be")
    assert len(result.stderr.splitlines()) == 1


def test_no_local_tokens_when_an_issuer_is_configured(tmp_path: Path) -> None:
    result = invoke(
        tmp_path,
        "--role",
        "customer",
        "--subject",
        "c-1",
        EVENTFOLD_JWT_JWKS_URL="https://issuer.example/jwks.json",
        EVENTFOLD_JWT_ISSUER="https://issuer.example",
        EVENTFOLD_JWT_AUDIENCE="api",
    )
    assert result.exit_code == 1
    assert "EVENTFOLD_JWT_JWKS_URL is set" in result.stderr
    assert not (tmp_path / "token-signing-key.pem").exists()

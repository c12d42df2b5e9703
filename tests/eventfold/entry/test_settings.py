from __future__ import annotations

import os
from pathlib import Path

import pytest

from eventfold import ConfigurationError, SqliteEventStore
from eventfold.entry.settings import HINTS, Settings, load_settings, open_store


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.home == Path(".eventfold")
    assert settings.database_path == Path(".eventfold/eventfold.db")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.url == "http://127.0.0.1:8000"
    assert (settings.durability, settings.store, settings.services) == ("full", "sqlite", ())


def test_the_server_variables_are_read(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "EVENTFOLD_HOME": str(tmp_path),
            "PORT": "9123",
            "EVENTFOLD_HOST": "::1",
            "EVENTFOLD_DURABILITY": "Normal",
            "EVENTFOLD_STORE": "sqlite",
            "EVENTFOLD_SERVICES": "reservations, catalog",
            "EVENTFOLD_LOG_LEVEL": "warning",
        }
    )
    assert settings.database_path == tmp_path / "eventfold.db"
    assert settings.url == "http://[::1]:9123"
    assert settings.durability == "normal"
    assert settings.services == ("reservations", "catalog")
    assert settings.log_level == "warning"


def test_empty_variables_take_their_defaults() -> None:
    assert load_settings({"PORT": "", "EVENTFOLD_DURABILITY": " "}).port == 8000


@pytest.mark.parametrize(
    ("environ", "names", "fix"),
    [
        ({"PORT": "eighty"}, ["PORT='eighty'"], "set PORT to a TCP port"),
        ({"PORT": "70000"}, ["PORT='70000'"], "between 1 and 65535"),
        ({"EVENTFOLD_DURABILITY": "fast"}, ["EVENTFOLD_DURABILITY='fast'"], "full"),
        ({"EVENTFOLD_STORE": "postgres"}, ["EVENTFOLD_STORE='postgres'"], "sqlite"),
        ({"EVENTFOLD_LOG_LEVEL": "loud"}, ["EVENTFOLD_LOG_LEVEL"], "info"),
        ({"EVENTFOLD_JOB_SECONDS": "0"}, ["EVENTFOLD_JOB_SECONDS='0'"], "e.g. 60"),
        ({"EVENTFOLD_JOB_SECONDS": "soon"}, ["EVENTFOLD_JOB_SECONDS"], "seconds"),
        (
            {"PORT": "-1", "EVENTFOLD_DURABILITY": "x"},
            ["PORT='-1'", "EVENTFOLD_DURABILITY='x'"],
            "set EVENTFOLD_DURABILITY",
        ),
    ],
)
def test_bad_values_name_every_variable_and_the_fix(
    environ: dict[str, str], names: list[str], fix: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(environ)
    message = str(raised.value)
    assert all(name in message for name in names), message
    assert fix in message
    assert "\n" not in message


def test_home_that_is_a_file_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ConfigurationError, match=r"EVENTFOLD_HOME=.* is a file"):
        load_settings({"EVENTFOLD_HOME": str(a_file)})


def test_open_store_builds_the_sqlite_store_in_home(tmp_path: Path) -> None:
    settings = load_settings(
        {"EVENTFOLD_HOME": str(tmp_path / "data"), "EVENTFOLD_DURABILITY": "normal"}
    )
    with open_store(settings) as store:
        assert isinstance(store, SqliteEventStore)
        assert store.durability == "normal"
    assert (tmp_path / "data" / "eventfold.db").is_file()


def test_a_home_that_cannot_be_created_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    settings = load_settings({"EVENTFOLD_HOME": str(blocker / "data")})
    with pytest.raises(ConfigurationError, match="EVENTFOLD_HOME"), open_store(settings):
        pass  # pragma: no cover


@pytest.mark.parametrize(("value", "expected"), [("off", False), ("on", True), ("", True)])
def test_the_in_process_router_can_be_turned_off(value: str, expected: bool) -> None:
    assert load_settings({"EVENTFOLD_ROUTER": value}).router is expected


@pytest.mark.parametrize(("value", "expected"), [("", 60.0), ("2.5", 2.5)])
def test_the_job_interval_is_a_setting(value: str, expected: float) -> None:
    assert load_settings({"EVENTFOLD_JOB_SECONDS": value}).job_seconds == expected


def test_webhooks_are_name_url_pairs() -> None:
    settings = load_settings({"EVENTFOLD_WEBHOOKS": " staff=https://a.example/h, ops=http://b "})
    assert settings.webhooks == {"staff": "https://a.example/h", "ops": "http://b"}
    with pytest.raises(ConfigurationError, match=r"EVENTFOLD_WEBHOOKS=.*'staff=ftp://a'"):
        load_settings({"EVENTFOLD_WEBHOOKS": "staff=ftp://a"})


@pytest.mark.parametrize(
    ("environ", "port"),
    [
        ({}, 8025),
        ({"PORT": "65530"}, 65505),
        ({"PORT": "9000", "EVENTFOLD_SMTP_PORT": "2525"}, 2525),
    ],
)
def test_the_mail_port_follows_port_unless_set(environ: dict[str, str], port: int) -> None:
    assert load_settings(environ).mail_port == port


def test_every_setting_is_read_and_has_a_fix() -> None:
    # load_settings passes on only the variables HINTS names: a field missing there is
    # never read from the environment.
    aliases = {field.validation_alias for field in Settings.model_fields.values()}
    assert aliases == set(HINTS)


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({"EVENTFOLD_WORKERS": "3"}, 3),
        ({}, len(os.sched_getaffinity(0))),
    ],
)
def test_http_processes_are_one_per_cpu_unless_set(environ: dict[str, str], wanted: int) -> None:
    assert load_settings(environ).http_processes == wanted


@pytest.mark.parametrize(("environ", "nice"), [({}, 0), ({"EVENTFOLD_ROUTER_NICE": "10"}, 10)])
def test_the_router_yields_the_cpu_only_when_told_to(environ: dict[str, str], nice: int) -> None:
    assert load_settings(environ).router_nice == nice


@pytest.mark.parametrize("value", ["-1", "20", "high"])
def test_a_bad_router_nice_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError, match="EVENTFOLD_ROUTER_NICE"):
        load_settings({"EVENTFOLD_ROUTER_NICE": value})


@pytest.mark.parametrize(
    ("environ", "wait"), [({}, 0.02), ({"EVENTFOLD_ROUTER_TURN_WAIT": "0"}, 0.0)]
)
def test_the_router_subscriptions_take_turns_unless_told_not_to(
    environ: dict[str, str], wait: float
) -> None:
    assert load_settings(environ).router_turn_wait == wait


@pytest.mark.parametrize("value", ["-0.1", "2", "soon"])
def test_a_bad_turn_wait_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError, match="EVENTFOLD_ROUTER_TURN_WAIT"):
        load_settings({"EVENTFOLD_ROUTER_TURN_WAIT": value})


@pytest.mark.parametrize(("value", "expected"), [("", 65536), ("1048576", 1048576)])
def test_the_request_body_bound_is_a_setting(value: str, expected: int) -> None:
    assert load_settings({"EVENTFOLD_MAX_BODY_BYTES": value}).max_body_bytes == expected


@pytest.mark.parametrize("value", ["0", "-1", "1k", str(2**30 + 1)])
def test_a_bad_body_bound_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigurationError, match="EVENTFOLD_MAX_BODY_BYTES"):
        load_settings({"EVENTFOLD_MAX_BODY_BYTES": value})


@pytest.mark.parametrize(
    ("environ", "handover"),
    [
        ({"EVENTFOLD_WORKERS": "2"}, True),
        ({"EVENTFOLD_WORKERS": "2", "EVENTFOLD_HANDOVER": "off"}, False),
        ({"EVENTFOLD_WORKERS": "1"}, False),  # nobody to hand connections to
    ],
)
def test_connections_that_start_writing_move_to_the_writer_unless_told_not_to(
    environ: dict[str, str], handover: bool
) -> None:
    assert load_settings(environ).handover_process is handover


def test_a_bad_handover_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="EVENTFOLD_HANDOVER"):
        load_settings({"EVENTFOLD_HANDOVER": "sometimes"})

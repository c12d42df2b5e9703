"""Settings of the entry points, read once from the environment and passed down.

Nothing below the entry points reads the environment: ``eventfold run`` calls
:func:`load_settings` with ``os.environ`` and hands the :class:`Settings` value to whatever
it builds. Bad values raise :class:`~eventfold.errors.ConfigurationError` naming the
variable and how to fix it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from eventfold.adapters.sqlite.event_store import SqliteEventStore
from eventfold.core.ports import EventStore
from eventfold.core.router.ports import OutagePolicy
from eventfold.errors import ConfigurationError

StoreKind = Literal["sqlite", "dynamodb"]
"""Which event store ``open_store`` builds (``EVENTFOLD_STORE``)."""
FeedKind = Literal["sqlite", "streams", "kinesis", "sqs"]
"""Where the router reads committed events (``EVENTFOLD_FEED``): the embedded store's tail,
the events table's DynamoDB stream, the Kinesis data stream it streams into, or an SQS
queue the SQS/SNS targets of another router fill."""

LogLevel = Literal["debug", "info", "warning", "error"]
"""The level of every logger (``EVENTFOLD_LOG_LEVEL``)."""

DATABASE_FILE = "eventfold.db"
# Also the defaults of a ServiceContext built without settings (a test's).
DEFAULT_READ_WAIT_SECONDS = 2.0
DEFAULT_JOB_SECONDS = 60.0
DEFAULT_MAX_BODY_BYTES = 64 * 1024

# variable name -> how to fix a bad value; also the variables Settings reads.
HINTS: Mapping[str, str] = {
    "EVENTFOLD_HOME": "set EVENTFOLD_HOME to a folder eventfold may create and write to",
    "EVENTFOLD_HOST": "set EVENTFOLD_HOST to an address to listen on, e.g. 127.0.0.1",
    "PORT": "set PORT to a TCP port number between 1 and 65535, e.g. PORT=8000",
    "EVENTFOLD_DURABILITY": "set EVENTFOLD_DURABILITY to full (the default), normal or off",
    "EVENTFOLD_STORE": "set EVENTFOLD_STORE to sqlite (the embedded default) or dynamodb",
    "EVENTFOLD_TABLE_PREFIX": "set EVENTFOLD_TABLE_PREFIX to the prefix of the DynamoDB tables "
    "(`eventfold aws create-tables --prefix ...`), e.g. eventfold-",
    "EVENTFOLD_AWS_REGION": "set EVENTFOLD_AWS_REGION to an AWS region, e.g. us-east-1",
    "EVENTFOLD_AWS_ENDPOINT_URL": "set EVENTFOLD_AWS_ENDPOINT_URL to an http(s) URL of a local "
    "emulator, or unset it for real AWS",
    "EVENTFOLD_FEED": "set EVENTFOLD_FEED to sqlite (with EVENTFOLD_STORE=sqlite), streams or "
    "kinesis (with EVENTFOLD_STORE=dynamodb), or sqs (a queue), or unset it for the store's "
    "own feed",
    "EVENTFOLD_FEED_POLL_INTERVAL": "set EVENTFOLD_FEED_POLL_INTERVAL to the seconds (0.05 to "
    "60) an idle feed waits between reads, e.g. 1",
    "EVENTFOLD_ROUTER_LINGER": "set EVENTFOLD_ROUTER_LINGER to the seconds (0 to 5) a busy "
    "subscription waits between batches to gather bigger ones, e.g. 0.05, or 0 for none",
    "EVENTFOLD_ROUTER_TURN_WAIT": "set EVENTFOLD_ROUTER_TURN_WAIT to the seconds (0 to 1) a "
    "subscription waits for another to finish its batch before it delivers anyway, e.g. "
    "0.02, or 0 for all at once",
    "EVENTFOLD_KINESIS_STREAM": "set EVENTFOLD_KINESIS_STREAM to the Kinesis data stream's name "
    "or ARN, or unset it for <prefix>events (what `eventfold aws create-tables --feed kinesis` "
    "creates)",
    "EVENTFOLD_SQS_QUEUE_URL": "set EVENTFOLD_SQS_QUEUE_URL to the feed queue's URL, e.g. "
    "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
    "EVENTFOLD_SERVICES": "set EVENTFOLD_SERVICES to a comma-separated list of service names, "
    "or leave it unset to run every installed service",
    "EVENTFOLD_LOG_LEVEL": "set EVENTFOLD_LOG_LEVEL to debug, info, warning or error",
    "EVENTFOLD_QUERY_URL": "set EVENTFOLD_QUERY_URL to a database URL for the query model, e.g. "
    "mysql+pymysql://user@host:3306/db, or unset it to use the event store's SQLite file",
    "EVENTFOLD_READ_WAIT": "set EVENTFOLD_READ_WAIT to the seconds (0 to 30) a read with "
    "min_version may wait for the query model, e.g. 2",
    "EVENTFOLD_SMTP_HOST": "set EVENTFOLD_SMTP_HOST to the SMTP server's host, e.g. 127.0.0.1",
    "EVENTFOLD_SMTP_PORT": "set EVENTFOLD_SMTP_PORT to the SMTP server's port (1-65535), e.g. "
    "8025, or unset it for PORT + 25",
    "EVENTFOLD_MAIL_FROM": "set EVENTFOLD_MAIL_FROM to the sender address, e.g. shop@example.com",
    "EVENTFOLD_JOB_SECONDS": "set EVENTFOLD_JOB_SECONDS to the seconds (0.1 to 86400) "
    "between two runs of a service's periodic job, e.g. 60",
    "EVENTFOLD_ROUTER": "set EVENTFOLD_ROUTER to on (eventfold run also starts a router "
    "process) or off (separate eventfold worker processes route)",
    "EVENTFOLD_WORKERS": "set EVENTFOLD_WORKERS to the number of HTTP processes eventfold run "
    "starts (1 to 64), e.g. 2, or unset it for one per CPU",
    "EVENTFOLD_ONE_WRITER": "set EVENTFOLD_ONE_WRITER to on (eventfold run's first HTTP "
    "process commits the commands the others take) or off (each commits its own, the default)",
    "EVENTFOLD_HANDOVER": "set EVENTFOLD_HANDOVER to on (a connection that starts with a "
    "write moves to eventfold run's first HTTP process, the default) or off (it stays where "
    "it landed)",
    "EVENTFOLD_ROUTER_NICE": "set EVENTFOLD_ROUTER_NICE to how far eventfold run's router "
    "process yields the CPU to its HTTP processes, a nice increment from 0 (not at all, the "
    "default) to 19, e.g. 10",
    "EVENTFOLD_ACCESS_LOG": "set EVENTFOLD_ACCESS_LOG to on (log every HTTP request) or off "
    "(the default)",
    "EVENTFOLD_MAIL_SINK": "set EVENTFOLD_MAIL_SINK to on (write e-mails as .eml files into "
    "EVENTFOLD_HOME/mail) or off (send them to EVENTFOLD_SMTP_HOST:EVENTFOLD_SMTP_PORT)",
    "EVENTFOLD_WEBHOOKS": "set EVENTFOLD_WEBHOOKS to comma-separated name=URL pairs, e.g. "
    "reservations-staff=https://faans.example/hook (a partner left unset is not "
    "subscribed until it is set; a warning at start names it)",
    "EVENTFOLD_JWT_JWKS_URL": "set EVENTFOLD_JWT_JWKS_URL to the https URL of your token "
    "issuer's JWKS (e.g. https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/"
    "jwks.json), or unset it for the local key `eventfold token` signs with",
    "EVENTFOLD_JWT_ISSUER": "set EVENTFOLD_JWT_ISSUER to the iss claim of your issuer's tokens",
    "EVENTFOLD_JWT_AUDIENCE": "set EVENTFOLD_JWT_AUDIENCE to the aud claim your issuer puts in "
    "tokens for this service (Cognito: the app client id)",
    "EVENTFOLD_JWT_ROLE_CLAIM": "set EVENTFOLD_JWT_ROLE_CLAIM to the claim naming the caller's "
    "roles, e.g. role or cognito:groups",
    "EVENTFOLD_JWT_SUBJECT_CLAIM": "set EVENTFOLD_JWT_SUBJECT_CLAIM to the claim naming the "
    "caller, e.g. sub",
    "EVENTFOLD_JWT_STORES_CLAIM": "set EVENTFOLD_JWT_STORES_CLAIM to the claim listing a member "
    "of staff's stores, e.g. stores or custom:stores",
    "EVENTFOLD_PARK_AFTER": "set EVENTFOLD_PARK_AFTER to the seconds (0 to 86400) a failing "
    "stream is retried before it parks, e.g. 300",
    "EVENTFOLD_RETRY_FIRST_DELAY": "set EVENTFOLD_RETRY_FIRST_DELAY to the seconds (0 to 3600) "
    "before a failing stream's first retry, e.g. 0.5",
    "EVENTFOLD_RETRY_MAX_DELAY": "set EVENTFOLD_RETRY_MAX_DELAY to the longest wait in seconds "
    "(0 to 3600) between two retries of a failing stream, e.g. 30",
    "EVENTFOLD_RETRY_PARKED_EVERY": "set EVENTFOLD_RETRY_PARKED_EVERY to the seconds (0 to "
    "86400) between two automatic redrives of the parked streams, e.g. 600, or 0 for never",
    "EVENTFOLD_MAX_BODY_BYTES": "set EVENTFOLD_MAX_BODY_BYTES to the largest request body "
    "accepted, in bytes (1024 to 1073741824), e.g. 65536; a larger one is answered 413",
}


class Settings(BaseSettings):
    """What an eventfold process is configured with. Field aliases are the variable names."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path(".eventfold"), validation_alias="EVENTFOLD_HOME")
    """The data folder: the SQLite event store (and the embedded query model) live inside."""
    host: str = Field(default="127.0.0.1", min_length=1, validation_alias="EVENTFOLD_HOST")
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="PORT")
    durability: Literal["full", "normal", "off"] = Field(
        default="full", validation_alias="EVENTFOLD_DURABILITY"
    )
    """full: every commit is on disk before it is acknowledged (the event store fsyncs its
    WAL right after the write lock is released; an HTTP process, once for the commands of
    one event-loop turn, before answering them); normal may lose the last commits on power
    loss (never on a crash); off is for throwaway data only."""
    store: StoreKind = Field(default="sqlite", validation_alias="EVENTFOLD_STORE")
    table_prefix: str = Field(
        default="eventfold-",
        pattern=r"^[A-Za-z0-9_.-]*$",
        validation_alias="EVENTFOLD_TABLE_PREFIX",
    )
    """DynamoDB store: tables ``<prefix>state``, ``<prefix>events``, ``<prefix>checkpoints``."""
    aws_region: str | None = Field(default=None, validation_alias="EVENTFOLD_AWS_REGION")
    """None: boto3's own chain (AWS_REGION, AWS_DEFAULT_REGION, the profile)."""
    aws_endpoint_url: str | None = Field(
        default=None, pattern=r"^https?://", validation_alias="EVENTFOLD_AWS_ENDPOINT_URL"
    )
    """An emulator (moto, LocalStack); None: real AWS."""
    feed: FeedKind | None = Field(default=None, validation_alias="EVENTFOLD_FEED")
    """None: the store's own change feed (see :attr:`router_feed`)."""
    feed_poll_interval: float = Field(
        default=1.0, ge=0.05, le=60, validation_alias="EVENTFOLD_FEED_POLL_INTERVAL"
    )
    """AWS feeds: how long an idle poll waits between reads. DynamoDB Streams and Kinesis
    allow about 5 reads per second per shard, shared by every subscription's reader."""
    router_linger: float = Field(
        default=0.05, ge=0, le=5, validation_alias="EVENTFOLD_ROUTER_LINGER"
    )
    """After a batch smaller than a full one, a subscription waits this long before it polls
    again: under load the router then works in batches of tens of events instead of a few
    (measured on 2 cores: router CPU per reservation 3.8 -> 2.1-2.4 ms with 0.05 s, 1.5 ms
    with 0.1 s; ``bench/cpu_cost.py``). The price: the query model and the reactions may be
    this much later under load. An idle feed still delivers its next event at once."""
    router_turn_wait: float = Field(
        default=0.02, ge=0, le=1, validation_alias="EVENTFOLD_ROUTER_TURN_WAIT"
    )
    """The subscriptions of a router process deliver one batch at a time, each waiting at
    most this long for the one delivering (``core.router.worker.Turn``): their threads
    then stop handing the GIL back and forth at every SQLite call (measured on 2 cores:
    router CPU per reservation 0.333-0.397 against 0.372-0.472 ms under load,
    ``bench/cpu_cost.py``). 0: every subscription delivers whenever it has events."""
    kinesis_stream: str | None = Field(
        default=None, min_length=1, validation_alias="EVENTFOLD_KINESIS_STREAM"
    )
    """None: ``<prefix>events``, the stream ``create-tables --feed kinesis`` creates."""
    sqs_queue_url: str | None = Field(
        default=None, pattern=r"^https?://", validation_alias="EVENTFOLD_SQS_QUEUE_URL"
    )
    services: tuple[str, ...] = Field(default=(), validation_alias="EVENTFOLD_SERVICES")
    """The installed services to run; empty: every installed one."""
    log_level: LogLevel = Field(default="info", validation_alias="EVENTFOLD_LOG_LEVEL")
    query_url: str | None = Field(default=None, validation_alias="EVENTFOLD_QUERY_URL")
    """The query model's database (SQLAlchemy URL); None: the event store's SQLite file."""
    read_wait: float = Field(
        default=DEFAULT_READ_WAIT_SECONDS, ge=0, le=30, validation_alias="EVENTFOLD_READ_WAIT"
    )
    """How long a read with ``min_version`` waits for the query model before a 503."""
    smtp_host: str = Field(
        default="127.0.0.1", min_length=1, validation_alias="EVENTFOLD_SMTP_HOST"
    )
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias="EVENTFOLD_SMTP_PORT"
    )
    """With EVENTFOLD_MAIL_SINK=off: the SMTP server's port. None: PORT + 25 (8025 beside the
    default 8000, where a development SMTP sink of your own may listen); see
    :attr:`mail_port`."""
    mail_from: str = Field(
        default="eventfold@localhost",
        pattern=r"^[^@\s]+@[^@\s]+$",
        validation_alias="EVENTFOLD_MAIL_FROM",
    )
    router: bool = Field(default=True, validation_alias="EVENTFOLD_ROUTER")
    """``eventfold run`` also starts a router process; off when separate ``eventfold
    worker`` processes route (several API hosts, one router)."""
    one_writer: bool = Field(default=False, validation_alias="EVENTFOLD_ONE_WRITER")
    """With more than one HTTP process, the first commits every command and the others hand
    theirs to it (:mod:`eventfold.entry.http.forwarding`). It took about a fifth less HTTP
    CPU per command than two processes committing to the file (means 1.37 against 1.71
    ms), and where the connections land no longer decides what a command costs; but on 2
    cores under bench/pipeline.py, seven
    alternating pairs accepted 436-664 (mean 560) commands/s against 505-854 (mean 635)
    without it, so it is off by default (docs/performance.md). With EVENTFOLD_HANDOVER (on
    by default) it only concerns commands sent on connections that started with a read."""
    handover: bool = Field(default=True, validation_alias="EVENTFOLD_HANDOVER")
    """With more than one HTTP process, a connection whose first request writes moves to
    the first of them, the writer, which serves it from then on
    (:mod:`eventfold.entry.http.handover`): commands are then committed by one process
    whatever the kernel does with the connections, at no cost per request. Two processes
    that both took commands spent 0.46-0.62 ms of HTTP CPU per command against 0.35 for
    one (``bench/cpu_cost.py`` on 2 cores); off, the connections stay where they land."""
    router_nice: int = Field(default=0, ge=0, le=19, validation_alias="EVENTFOLD_ROUTER_NICE")
    """How far ``eventfold run``'s router process yields the CPU to its HTTP processes (added
    to its nice value; 0: not at all). When they compete for the cores, commands are taken
    first and the read side falls behind instead: on 2 cores under bench/pipeline.py, +10
    accepted 595-771 against 530-607 commands/s (p99 39-61 against 57-72 ms), but in four of
    seven runs the mail reaction was 1,349-2,921 events (2.6-4.4 s) behind when the load
    stopped, and the rate of completed reservations did not rise. A service whose load
    comes in bursts, with pauses for the read side to catch up, may want it; a sustained
    load does not: the cores are what they are, and completing is the router's work."""
    workers: int | None = Field(default=None, ge=1, le=64, validation_alias="EVENTFOLD_WORKERS")
    """How many HTTP processes ``eventfold run`` starts; None: one per CPU (see
    :attr:`http_processes`)."""
    access_log: bool = Field(default=False, validation_alias="EVENTFOLD_ACCESS_LOG")
    """Log a line per HTTP request (off by default: it costs about a tenth of the
    throughput, and a proxy or API Gateway logs requests anyway)."""
    job_seconds: float = Field(
        default=DEFAULT_JOB_SECONDS, ge=0.1, le=86400, validation_alias="EVENTFOLD_JOB_SECONDS"
    )
    """How often the services' periodic jobs run (where the router runs)."""
    mail_sink: bool = Field(default=True, validation_alias="EVENTFOLD_MAIL_SINK")
    """On (the embedded default): e-mails are written as ``.eml`` files into ``home/mail``,
    no server involved; off: they are sent to the SMTP server at smtp_host:smtp_port."""
    webhooks: dict[str, str] = Field(default_factory=dict, validation_alias="EVENTFOLD_WEBHOOKS")
    """Named webhook URLs the services' reactions post to; a partner left out is not
    subscribed (nothing is sent or recorded as done until it is set)."""
    jwt_jwks_url: str | None = Field(
        default=None, pattern=r"^https?://", validation_alias="EVENTFOLD_JWT_JWKS_URL"
    )
    """The token issuer's JWKS document (Cognito: ``https://cognito-idp.<region>.amazonaws
    .com/<pool id>/.well-known/jwks.json``); None: the local key in the home folder, which
    ``eventfold token`` signs with."""
    jwt_issuer: str | None = Field(
        default=None, min_length=1, validation_alias="EVENTFOLD_JWT_ISSUER"
    )
    jwt_audience: str | None = Field(
        default=None, min_length=1, validation_alias="EVENTFOLD_JWT_AUDIENCE"
    )
    jwt_role_claim: str = Field(
        default="role", min_length=1, validation_alias="EVENTFOLD_JWT_ROLE_CLAIM"
    )
    """The claim naming the caller's role(s): ``cognito:groups`` for a Cognito user pool."""
    jwt_subject_claim: str = Field(
        default="sub", min_length=1, validation_alias="EVENTFOLD_JWT_SUBJECT_CLAIM"
    )
    jwt_stores_claim: str = Field(
        default="stores", min_length=1, validation_alias="EVENTFOLD_JWT_STORES_CLAIM"
    )
    """The claim listing the stores a member of staff works for (e.g. ``custom:stores``)."""
    park_after: float = Field(
        default=300.0, ge=0, le=86400, validation_alias="EVENTFOLD_PARK_AFTER"
    )
    """How long the router keeps retrying a failing stream (while the others flow) before
    it parks it: a partner's deploy or a failover shorter than this parks nothing."""
    retry_first_delay: float = Field(
        default=0.5, ge=0, le=3600, validation_alias="EVENTFOLD_RETRY_FIRST_DELAY"
    )
    retry_max_delay: float = Field(
        default=30.0, ge=0, le=3600, validation_alias="EVENTFOLD_RETRY_MAX_DELAY"
    )
    """The retries' delay doubles from retry_first_delay up to this (with full jitter)."""
    retry_parked_every: float = Field(
        default=600.0, ge=0, le=86400, validation_alias="EVENTFOLD_RETRY_PARKED_EVERY"
    )
    """How often the router redrives the parked streams by itself (until they go through or
    an operator skips them); 0: only operators redrive."""
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        le=2**30,
        validation_alias="EVENTFOLD_MAX_BODY_BYTES",
    )
    """A request body over this is answered 413 before it is read (the commands' bodies are
    a few hundred bytes; a 200 MB one grew a process by 580 MB)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what load_settings passes in: the environment is read in one visible place.
        return (init_settings,)

    @field_validator("durability", "store", "log_level", "feed", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("services", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("webhooks", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, equals, url = item.partition("=")
            if (
                not equals
                or not name.strip()
                or not url.strip().startswith(("http://", "https://"))
            ):
                raise ValueError(f"{item!r} is not name=http(s)://URL")
            pairs[name.strip()] = url.strip()
        return pairs

    @property
    def mail_port(self) -> int:
        """The SMTP port: EVENTFOLD_SMTP_PORT, else PORT + 25 (PORT - 25 near the top)."""
        if self.smtp_port is not None:
            return self.smtp_port
        return self.port + 25 if self.port + 25 <= 65535 else self.port - 25

    @property
    def one_writer_process(self) -> bool:
        """Whether ``eventfold run``'s first HTTP process commits the others' commands:
        EVENTFOLD_ONE_WRITER=on and more than one HTTP process."""
        return self.one_writer and self.http_processes > 1

    @property
    def handover_process(self) -> bool:
        """Whether ``eventfold run``'s first HTTP process takes the connections that start
        writing from the others: EVENTFOLD_HANDOVER=on and more than one HTTP process."""
        return self.handover and self.http_processes > 1

    @property
    def http_processes(self) -> int:
        """EVENTFOLD_WORKERS, else one HTTP process per CPU this process may run on (reads
        scale with them; on 2 CPUs one HTTP process took 1.2x the commands/s of two, but
        0.55x the reads: see docs/performance.md)."""
        if self.workers is not None:
            return self.workers
        return max(1, len(os.sched_getaffinity(0)))

    @property
    def outages(self) -> OutagePolicy:
        """How the router rides out a target's outage (EVENTFOLD_PARK_AFTER, EVENTFOLD_RETRY_*)."""
        return OutagePolicy(
            park_after=self.park_after,
            first_delay=self.retry_first_delay,
            max_delay=self.retry_max_delay,
            retry_parked_every=self.retry_parked_every,
        )

    @property
    def mail_folder(self) -> Path:
        """Where local e-mail (EVENTFOLD_MAIL_SINK=on) is written as ``.eml`` files."""
        return self.home / "mail"

    @field_validator("home")
    @classmethod
    def _folder(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError(f"{value} is a file, not a folder")
        return value

    @property
    def router_feed(self) -> FeedKind:
        """The feed the router reads: EVENTFOLD_FEED, else the store's own (the SQLite tail;
        DynamoDB Streams for the DynamoDB store)."""
        if self.feed is not None:
            return self.feed
        return "sqlite" if self.store == "sqlite" else "streams"

    @property
    def kinesis_stream_name(self) -> str:
        return self.kinesis_stream or f"{self.table_prefix}events"

    @property
    def database_path(self) -> Path:
        """The SQLite file of the embedded store."""
        return self.home / DATABASE_FILE

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from ``environ`` (pass ``os.environ`` in an entry point). Unset and empty
    variables take their defaults."""
    given = {name: environ[name] for name in HINTS if environ.get(name, "").strip()}
    try:
        settings = Settings.model_validate(given)
    except ValidationError as exc:
        raise ConfigurationError(_explain(exc, given)) from None
    _check_feed(settings)
    if settings.jwt_jwks_url and not (settings.jwt_issuer and settings.jwt_audience):
        raise ConfigurationError(
            "EVENTFOLD_JWT_JWKS_URL needs EVENTFOLD_JWT_ISSUER and EVENTFOLD_JWT_AUDIENCE too "
            "(every token is checked against both): "
            + HINTS["EVENTFOLD_JWT_ISSUER"]
            + "; "
            + HINTS["EVENTFOLD_JWT_AUDIENCE"]
        )
    return settings


def log_level_of(environ: Mapping[str, str]) -> LogLevel:
    """``EVENTFOLD_LOG_LEVEL`` alone (default info), checked like :func:`load_settings` does:
    logging is configured before, and reports, any other setting's problem."""
    level = environ.get("EVENTFOLD_LOG_LEVEL", "")
    return load_settings({"EVENTFOLD_LOG_LEVEL": level}).log_level


def _check_feed(settings: Settings) -> None:
    """Refuse a feed that cannot read the configured store, naming the fix."""
    feed, store = settings.router_feed, settings.store
    if feed == "sqlite" and store != "sqlite":
        raise ConfigurationError(
            f"EVENTFOLD_FEED=sqlite tails the embedded SQLite store, not EVENTFOLD_STORE={store}: "
            "set EVENTFOLD_FEED to streams (the default for dynamodb) or kinesis"
        )
    if feed in ("streams", "kinesis") and store != "dynamodb":
        raise ConfigurationError(
            f"EVENTFOLD_FEED={feed} reads the DynamoDB events table's changes, and "
            f"EVENTFOLD_STORE={store}: set EVENTFOLD_STORE=dynamodb, or EVENTFOLD_FEED=sqlite"
        )
    if feed == "sqs" and settings.sqs_queue_url is None:
        raise ConfigurationError(
            f"EVENTFOLD_FEED=sqs needs the queue: {HINTS['EVENTFOLD_SQS_QUEUE_URL']}"
        )


def _explain(exc: ValidationError, given: Mapping[str, str]) -> str:
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        value = given.get(name)
        shown = f"{name}={value!r}" if value is not None else name
        reason = str(error["msg"]).removeprefix("Value error, ")
        hint = HINTS.get(name, "fix or unset it")
        problems.append(f"{shown} is invalid ({reason}): {hint}")
    return "; ".join(problems)


@contextmanager
def open_store(settings: Settings) -> Iterator[EventStore]:
    """The event store ``settings.store`` names, closed when the block ends.

    One branch per store kind (add a kind to :data:`StoreKind` and a branch here).
    """
    if settings.store == "sqlite":
        try:
            store = SqliteEventStore(settings.database_path, durability=settings.durability)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(
                f"cannot open the event store {settings.database_path} ({exc}): "
                f"{HINTS['EVENTFOLD_HOME']}"
            ) from exc
        try:
            yield store
        finally:
            store.close()
        return
    if settings.store == "dynamodb":
        yield _dynamodb_store(settings)
        return
    raise ConfigurationError(  # pragma: no cover - StoreKind lists only handled kinds
        f"EVENTFOLD_STORE={settings.store!r} has no store: {HINTS['EVENTFOLD_STORE']}"
    )


def _dynamodb_store(settings: Settings) -> EventStore:
    """The DynamoDB store on the tables ``eventfold aws create-tables`` made; checked to
    exist so a wrong prefix or region fails at start, not at the first command."""
    try:  # boto3 is the optional eventfold[aws] extra
        from eventfold.adapters.aws.clients import dynamodb_client
        from eventfold.adapters.aws.dynamodb_items import TableNames
        from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
    except ImportError as exc:
        raise ConfigurationError(
            f"EVENTFOLD_STORE=dynamodb needs boto3 ({exc}): pip install 'eventfold[aws]'"
        ) from exc
    client = dynamodb_client(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    store = DynamoDBEventStore(client, TableNames(settings.table_prefix))
    store.verify()
    return store

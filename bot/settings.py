"""Configuration: one frozen ``Settings``, read from the environment once at start-up.

Nothing else in the bot reads ``os.environ``. Secrets are ``SecretStr`` (masked in reprs and
logs). A bad value stops start-up with a message naming the variable.

Also read: ``.env`` in the working directory (``BOT_ENV_FILE`` names another file), for what the
environment does not set, so ``python -m bot serve`` finds it without honcho. An empty value
means "not set", in the environment as in the file: a copy of ``.env.example`` passed by
``docker --env-file``, systemd's ``EnvironmentFile`` or ``set -a; . ./.env`` sets some variables
to "", and those settings keep their defaults.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import BotError

ROOT = Path(__file__).resolve().parent.parent
DEMO_KEY_FILE = "demo-secret.key"
ENV_FILE = ".env"
# Every key this bot makes for a demo or a development run starts with this; production refuses it.
DEMO_KEY_PREFIX = "demo-"


class SettingsError(BotError):
    """A setting is missing or wrong; the message names the environment variable."""


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class ProxyTrust:
    """``BOT_TRUSTED_PROXIES``: which reverse proxies may say who the client is and how it came
    (``X-Forwarded-For``, ``X-Forwarded-Proto``): none (empty: the peer is the client, forwarded
    headers are ignored), the last ``hops`` of them (``1`` behind one load balancer; each
    appends the address it saw), or those connecting from ``networks``
    (``10.0.0.0/8, 127.0.0.1``)."""

    hops: int = 0
    networks: tuple = ()

    @classmethod
    def parse(cls, value: str | None) -> "ProxyTrust":
        """Raises ValueError, saying what was wrong, for anything else."""
        value = (value or "").strip()
        if not value:
            return cls()
        if value.isdigit():
            hops = int(value)
            if hops > 10:
                raise ValueError("a hop count is between 0 and 10 (proxies in front of the bot)")
            return cls(hops=hops)
        networks = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is neither a number of hops nor an address or network (CIDR)") from None
        return cls(networks=tuple(networks))

    @property
    def trusts_anyone(self) -> bool:
        return bool(self.hops or self.networks)

    def trusts(self, peer: str | None) -> bool:
        """Is the connection's peer one of the trusted proxies?"""
        if self.hops:
            return True  # so many proxies stand in front: the peer is the nearest of them
        address = _ip(peer or "")
        return address is not None and any(address in net for net in self.networks)

    def forwarded_value(self, header: str | None) -> str | None:
        """The entry of a comma-separated forwarded header written by the outermost trusted
        proxy: the ``hops``-th from the right (one, for networks), else the leftmost there is."""
        values = [v.strip() for v in (header or "").split(",") if v.strip()]
        if not values:
            return None
        return values[-min(max(self.hops, 1), len(values))]

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The address to count a client's requests by. Without trusted proxies the peer,
        whatever ``X-Forwarded-For`` says (anyone can write that header). With ``hops`` = N, the
        Nth entry from the right. With ``networks``, the peer only counts as a proxy when it is
        in one of them, and so does each entry, right to left: the first address outside them
        is the client. An entry that is not an address ends the walk at the last proxy."""
        peer = peer or "?"
        if not forwarded_for or not self.trusts_anyone:
            return peer
        entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
        if self.hops:
            if len(entries) < self.hops:
                return peer
            ip = _ip(entries[-self.hops])
            return str(ip) if ip is not None else peer
        current = _ip(peer)
        if not self.trusts(peer):
            return peer
        for entry in reversed(entries):
            ip = _ip(entry)
            if ip is None:
                return str(current)
            if not self.trusts(entry):
                return str(ip)
            current = ip
        return str(current)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", frozen=True, extra="ignore", case_sensitive=False,
                                      env_ignore_empty=True, env_file_encoding="utf-8")

    bot_env: Literal["demo", "development", "production"] = Field("development", alias="BOT_ENV")
    bot_data_dir: Path = Field(Path("./data"), alias="BOT_DATA_DIR")
    database_url: str = Field("", alias="DATABASE_URL")
    bot_secret_key: SecretStr = Field(SecretStr(""), alias="BOT_SECRET_KEY")
    # The key ring, newest first, comma-separated: the newest seals and pseudonymises, the
    # others still open what they sealed (``python -m bot keys rotate``).
    bot_secret_keys: SecretStr = Field(SecretStr(""), alias="BOT_SECRET_KEYS")
    bot_flows_dir: Path = Field(ROOT / "flows", alias="BOT_FLOWS_DIR")
    bot_locales_dir: Path = Field(ROOT / "locales", alias="BOT_LOCALES_DIR")
    bot_flow: str = Field("first_contact", alias="BOT_FLOW")
    # At start, publish the repository's flows and locales when they are newer than every stored
    # version and nobody has edited one (an upgrade brings its new texts); off: only say so.
    flows_auto_upgrade: bool = Field(True, alias="BOT_FLOWS_AUTO_UPGRADE")
    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(8080, alias="PORT", ge=1, le=65535)
    line_channel_secret: SecretStr = Field(SecretStr(""), alias="LINE_CHANNEL_SECRET")
    line_channel_access_token: SecretStr = Field(SecretStr(""), alias="LINE_CHANNEL_ACCESS_TOKEN")
    line_api_base_url: str = Field("https://api.line.me", alias="LINE_API_BASE_URL")
    discord_token: SecretStr = Field(SecretStr(""), alias="DISCORD_TOKEN")
    transcript_retention_days: int = Field(30, alias="BOT_TRANSCRIPT_RETENTION_DAYS", ge=1)
    event_id_retention_days: int = Field(7, alias="BOT_EVENT_ID_RETENTION_DAYS", ge=1)
    conversation_retention_days: int = Field(90, alias="BOT_CONVERSATION_RETENTION_DAYS", ge=1)
    handoff_wait_minutes: int = Field(10, alias="BOT_HANDOFF_WAIT_MINUTES", ge=1)
    # While queued (and before the "nobody answered" notice), an honest "still waiting" this often.
    # A live conversation where the person wrote nothing for this long shows "may have left".
    handoff_silent_minutes: int = Field(10, alias="BOT_HANDOFF_SILENT_MINUTES", ge=1)
    handoff_still_waiting_minutes: int = Field(4, alias="BOT_HANDOFF_STILL_WAITING_MINUTES", ge=1)
    office_hours_file: Path = Field(ROOT / "office_hours.yaml", alias="BOT_OFFICE_HOURS_FILE")
    timezone: str = Field("Asia/Tokyo", alias="BOT_TIMEZONE")
    log_format: Literal["json", "text"] = Field("json", alias="BOT_LOG_FORMAT")
    log_level: str = Field("INFO", alias="BOT_LOG_LEVEL")
    run_worker_in_web: bool | None = Field(None, alias="BOT_WORKER_IN_WEB")
    outbox_max_attempts: int = Field(20, alias="BOT_OUTBOX_MAX_ATTEMPTS", ge=1)
    # /metrics and the details of /readyz: on this port only (bound to BOT_METRICS_HOST), and/or
    # on the public port for a request with "Authorization: Bearer <BOT_METRICS_TOKEN>".
    metrics_port: int | None = Field(None, alias="BOT_METRICS_PORT", ge=1, le=65535)
    metrics_host: str = Field("127.0.0.1", alias="BOT_METRICS_HOST")
    metrics_token: SecretStr = Field(SecretStr(""), alias="BOT_METRICS_TOKEN")
    # Security: proxies, console logins, limits of the public web chat, handoffs nobody closes.
    trusted_proxies: str = Field("", alias="BOT_TRUSTED_PROXIES")
    console_idle_minutes: int = Field(30, alias="BOT_CONSOLE_IDLE_MINUTES", ge=1)
    console_login_hours: int = Field(12, alias="BOT_CONSOLE_LOGIN_HOURS", ge=1)
    web_chat_starts_per_hour: int = Field(120, alias="BOT_WEB_CHAT_STARTS_PER_HOUR", ge=1)
    web_chat_sends_per_minute: int = Field(120, alias="BOT_WEB_CHAT_SENDS_PER_MINUTE", ge=1)
    web_chat_handoffs_per_hour: int = Field(5, alias="BOT_WEB_CHAT_HANDOFFS_PER_HOUR", ge=1)
    web_chat_open_handoffs: int = Field(3, alias="BOT_WEB_CHAT_OPEN_HANDOFFS", ge=1)
    web_chat_streams_per_address: int = Field(20, alias="BOT_WEB_CHAT_STREAMS_PER_ADDRESS", ge=1)
    web_chat_streams_per_chat: int = Field(2, alias="BOT_WEB_CHAT_STREAMS_PER_CHAT", ge=1)
    handoff_queue_hours: int = Field(72, alias="BOT_HANDOFF_QUEUE_HOURS", ge=1)
    handoff_idle_days: int = Field(7, alias="BOT_HANDOFF_IDLE_DAYS", ge=1)

    def __init__(self, **values) -> None:
        # Which file, decided at each construction (tests point BOT_ENV_FILE at /dev/null).
        values.setdefault("_env_file", os.environ.get("BOT_ENV_FILE") or ENV_FILE)
        super().__init__(**values)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_a_count_or_networks(cls, value: str) -> str:
        ProxyTrust.parse(value)  # raises ValueError with what is wrong
        return value.strip()

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> "Settings":
        ring = self._configured_keys()
        single = self.bot_secret_key.get_secret_value()
        if single and self.bot_secret_keys.get_secret_value() and single not in ring:
            raise ValueError("BOT_SECRET_KEY is not in BOT_SECRET_KEYS: put every key in BOT_SECRET_KEYS "
                             "(newest first) and unset BOT_SECRET_KEY")
        if self.bot_env == "demo" and self.database_url:
            raise ValueError("the demo runs on SQLite only: unset DATABASE_URL (or do not use --demo)")
        if self.database_url and not ring:
            # Several processes share the database: a key made here would differ in each.
            raise ValueError("BOT_SECRET_KEY (or BOT_SECRET_KEYS) must be set when DATABASE_URL is set")
        if self.bot_env == "production":
            if not ring or any(len(k) < 32 for k in ring):
                raise ValueError("BOT_SECRET_KEY must be set to at least 32 random characters in production")
            if not self.database_url:
                raise ValueError("DATABASE_URL must be set in production")
            demo_key = self.bot_data_dir / DEMO_KEY_FILE
            made = demo_key.read_text().strip() if demo_key.exists() else None
            if any(k.startswith(DEMO_KEY_PREFIX) or k == made for k in ring):
                raise ValueError("BOT_SECRET_KEY is the demo key made for trying the bot; make a new one for production")
        return self

    def _configured_keys(self) -> list[str]:
        ring = [k.strip() for k in self.bot_secret_keys.get_secret_value().split(",") if k.strip()]
        if ring:
            return ring
        single = self.bot_secret_key.get_secret_value().strip()
        return [single] if single else []

    @classmethod
    def for_demo(cls) -> "Settings":
        """``serve --demo``: refused where it could reach real data (``BOT_ENV=production``, or a
        ``DATABASE_URL``), since it plants a ``demo`` counsellor whose password goes to stdout."""
        seen = _DemoGuard()
        if seen.bot_env.strip().lower() == "production":
            raise SettingsError("--demo is refused with BOT_ENV=production: it makes a counsellor whose password "
                                "is printed. Run `python -m bot serve` instead.")
        if seen.database_url.strip():
            raise SettingsError("--demo is refused while DATABASE_URL is set: the demo runs on its own SQLite "
                                "file. Unset DATABASE_URL to try the bot.")
        return cls.from_env(BOT_ENV="demo")

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        try:
            return cls(**overrides)
        except ValidationError as exc:
            lines = []
            for err in exc.errors():
                name = str(err["loc"][0]).upper() if err["loc"] else "configuration"
                lines.append(f"{name}: {err['msg']} (got {err.get('input')!r})" if err["loc"] else err["msg"])
            raise SettingsError("bad configuration:\n  " + "\n  ".join(lines)) from None

    # -- derived ----------------------------------------------------------------------------------
    @property
    def proxy_trust(self) -> ProxyTrust:
        return ProxyTrust.parse(self.trusted_proxies)

    @property
    def db_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Platforms hand out postgres:// URLs; SQLAlchemy's async driver needs its own scheme.
            for prefix in ("postgres://", "postgresql://"):
                if url.startswith(prefix):
                    return "postgresql+asyncpg://" + url[len(prefix):]
            return url
        return f"sqlite+aiosqlite:///{(self.bot_data_dir / 'bot.db').resolve()}"

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret.get_secret_value() and self.line_channel_access_token.get_secret_value())

    def secret_keys(self) -> list[bytes]:
        """The key ring for pseudonyms and encryption, newest first. Without ``BOT_SECRET_KEY(S)``
        (never the case with a ``DATABASE_URL`` or in production) one key is made once and kept
        in the data dir, with the ``demo-`` prefix that production refuses."""
        ring = self._configured_keys()
        if ring:
            return [k.encode() for k in ring]
        path = self.bot_data_dir / DEMO_KEY_FILE
        if path.exists():
            return [path.read_text().strip().encode()]
        if not self.bot_data_dir.exists():
            self.bot_data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        made = DEMO_KEY_PREFIX + secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
        with os.fdopen(fd, "w") as f:
            f.write(made)
        return [made.encode()]

    def secret_key(self) -> bytes:
        """The newest key of the ring (``secret_keys``)."""
        return self.secret_keys()[0]


class _MessageLanguage(BaseSettings):
    """The variables that choose the language of the command-line tools' messages (``bot check``,
    ``bot test``): ``BOT_LANG`` first, then the locale as POSIX orders it."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False, env_ignore_empty=True,
                                      env_file_encoding="utf-8")

    bot_lang: str = Field("", alias="BOT_LANG")
    lc_all: str = Field("", alias="LC_ALL")
    lc_messages: str = Field("", alias="LC_MESSAGES")
    lang: str = Field("", alias="LANG")


def message_language() -> str:
    """``ja`` when ``BOT_LANG=ja``, or when ``BOT_LANG`` is unset and the locale (``LC_ALL``, else
    ``LC_MESSAGES``, else ``LANG``) is Japanese (``ja_JP.UTF-8``); ``en`` otherwise."""
    seen = _MessageLanguage(_env_file=os.environ.get("BOT_ENV_FILE") or ENV_FILE)
    chosen = seen.bot_lang.strip().lower()
    if chosen:
        if chosen.split("_")[0].split("-")[0] not in ("ja", "en"):
            raise SettingsError(f"BOT_LANG: use ja or en (got {seen.bot_lang!r})")
        return chosen[:2]
    posix = seen.lc_all or seen.lc_messages or seen.lang
    return "ja" if posix.strip().lower().startswith("ja") else "en"


class _DemoGuard(BaseSettings):
    """The two variables ``--demo`` must not run with, read as they are in the environment."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    bot_env: str = Field("", alias="BOT_ENV")
    database_url: str = Field("", alias="DATABASE_URL")

"""One typed Settings object, read from CANTEEN_* environment variables.

This module is the only reader of ``os.environ``. Settings are validated at
start; every problem names the variable and says what is wrong, so a
misconfigured deployment fails before it serves a single request.
"""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

# Development defaults. A production start refuses every one of them.
# ruff: noqa: S105
DEMO_SECRET_KEY = "canteen-demo-secret-key-do-not-use-in-production"
DEMO_PII_KEY = "7a1f3c5e9b2d4f6a8c0e1a3b5d7f9e2c4a6b8d0f1e3c5a7b9d2f4e6a8c0b1d3f"
DEMO_CARD_SIGNING_KEY = "4c616e7465656e2d64656d6f2d636172642d7369676e696e672d6b65792d2121"


class SettingsError(ValueError):
    """A configuration problem, naming the variable."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Invalid configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True, slots=True)
class Settings:
    env: str = "development"
    database_url: str = "sqlite:///var/canteen.sqlite3"
    redis_url: str | None = None
    secret_key: str = DEMO_SECRET_KEY
    pii_key: str = DEMO_PII_KEY
    card_signing_key: str = DEMO_CARD_SIGNING_KEY
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    log_json: bool = True
    cookie_secure: bool = False
    session_ttl_seconds: int = 12 * 3600
    max_body_bytes: int = 5 * 1024 * 1024
    db_pool_min: int = 1
    db_pool_max: int = 10
    login_max_failures_per_user: int = 5
    login_max_failures_per_ip: int = 30
    login_window_seconds: int = 15 * 60
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs); empty:
    # the direct peer is the client, whatever headers it sends (canteen.accounts.context.client_ip).
    trusted_proxies: str = ""
    hotline: str = "0571-12345"
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    # Notifications (canteen.notify): nothing set → every message goes to the log page only.
    notify_sms_url: str | None = None  # generic SMS gateway: POST JSON {to, text}, bearer key
    notify_sms_key: str | None = None
    notify_wechat_appid: str | None = None
    notify_wechat_secret: str | None = None
    notify_wechat_template_id: str | None = None
    notify_wechat_base: str = "https://api.weixin.qq.com"
    # Who runs the job queue's work (canteen.core.queue): "auto" = inside the web process on SQLite
    # (the embedded demo: procrastinate's in-memory queue), a separate `canteen worker` on
    # PostgreSQL; "in-process" or "external" to choose.
    jobs_worker: str = "auto"
    jobs_concurrency: int = 2
    jobs_schedule: bool = True  # the worker also runs the schedule (the queue's cron)
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def jobs_in_process(self) -> bool:
        return self.jobs_worker == "in-process" or (self.jobs_worker == "auto" and not self.is_postgres)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        parsed = urlparse(self.database_url)
        # sqlite:///var/x.db → relative "var/x.db"; sqlite:////abs/x.db → "/abs/x.db"
        return Path(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate settings; raise SettingsError listing every problem."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            var = "CANTEEN_" + f.name.upper()
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            try:
                if kind == "int":
                    values[f.name] = int(raw)
                elif kind == "bool":
                    low = raw.strip().lower()
                    if low not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                        raise ValueError("expected true or false")
                    values[f.name] = low in {"1", "true", "yes", "on"}
                else:
                    values[f.name] = raw.strip()
            except ValueError as exc:
                problems.append(f"{var}={raw!r}: {exc}")
        if "cookie_secure" not in values and values.get("env") == "production":
            values["cookie_secure"] = True
        settings = cls(**values)  # type: ignore[arg-type]
        problems.extend(settings.problems())
        if problems:
            raise SettingsError(problems)
        return settings

    def problems(self) -> list[str]:
        out: list[str] = []
        if self.env not in {"development", "production", "test"}:
            out.append(f"CANTEEN_ENV={self.env!r}: must be development, production or test")
        url = urlparse(self.database_url)
        if url.scheme not in {"sqlite", "postgresql", "postgres"}:
            out.append(
                f"CANTEEN_DATABASE_URL={self.database_url!r}: must start with sqlite:/// or postgresql://"
            )
        elif url.scheme == "sqlite" and not url.path.strip("/"):
            out.append(
                "CANTEEN_DATABASE_URL: a sqlite URL needs a file path, e.g. sqlite:///var/canteen.sqlite3"
            )
        elif url.scheme != "sqlite" and not (url.hostname and url.path.strip("/")):
            out.append(
                f"CANTEEN_DATABASE_URL={self.database_url!r}: needs a host and a database name, "
                "e.g. postgresql://postgres@127.0.0.1:5432/canteen"
            )
        if self.redis_url is not None and urlparse(self.redis_url).scheme not in {"redis", "rediss", "unix"}:
            out.append(f"CANTEEN_REDIS_URL={self.redis_url!r}: must start with redis:// or rediss://")
        if not 1 <= self.port <= 65535:
            out.append(f"CANTEEN_PORT={self.port}: must be between 1 and 65535")
        if self.workers < 1:
            out.append(f"CANTEEN_WORKERS={self.workers}: must be at least 1")
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            out.append(f"CANTEEN_TIMEZONE={self.timezone!r}: unknown time zone (e.g. Asia/Shanghai)")
        for name in ("pii_key", "card_signing_key"):
            value = getattr(self, name)
            try:
                ok = len(bytes.fromhex(value)) == 32
            except ValueError:
                ok = False
            if not ok:
                out.append(f"CANTEEN_{name.upper()}: must be 64 hex characters (32 bytes)")
        if len(self.secret_key) < 32:
            out.append("CANTEEN_SECRET_KEY: must be at least 32 characters")
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            out.append(
                f"CANTEEN_TRUSTED_PROXIES={self.trusted_proxies!r}: {exc} "
                "(comma-separated IP addresses or CIDRs, e.g. 10.0.0.11,10.0.1.0/24)"
            )
        if self.db_pool_min < 1 or self.db_pool_max < self.db_pool_min:
            out.append("CANTEEN_DB_POOL_MIN/CANTEEN_DB_POOL_MAX: need 1 <= min <= max")
        if self.production:
            demo = {
                "secret_key": DEMO_SECRET_KEY,
                "pii_key": DEMO_PII_KEY,
                "card_signing_key": DEMO_CARD_SIGNING_KEY,
            }
            for name, value in demo.items():
                if getattr(self, name) == value:
                    out.append(
                        f"CANTEEN_{name.upper()}: production mode refuses the demo value; "
                        "set a secret of your own"
                    )
            if not self.cookie_secure:
                out.append("CANTEEN_COOKIE_SECURE: must be true in production (cookies only over HTTPS)")
        if self.notify_sms_url and urlparse(self.notify_sms_url).scheme not in {"http", "https"}:
            out.append(f"CANTEEN_NOTIFY_SMS_URL={self.notify_sms_url!r}: must start with http:// or https://")
        wechat = (self.notify_wechat_appid, self.notify_wechat_secret, self.notify_wechat_template_id)
        if any(wechat) and not all(wechat):
            out.append(
                "CANTEEN_NOTIFY_WECHAT_APPID, CANTEEN_NOTIFY_WECHAT_SECRET and "
                "CANTEEN_NOTIFY_WECHAT_TEMPLATE_ID: set all three or none"
            )
        if self.jobs_worker not in {"auto", "in-process", "external"}:
            out.append(f"CANTEEN_JOBS_WORKER={self.jobs_worker!r}: must be auto, in-process or external")
        if not 1 <= self.jobs_concurrency <= 64:
            out.append("CANTEEN_JOBS_CONCURRENCY: must be between 1 and 64")
        if (self.stripe_api_key is None) != (self.stripe_webhook_secret is None):
            out.append("CANTEEN_STRIPE_API_KEY and CANTEEN_STRIPE_WEBHOOK_SECRET: set both or neither")
        return out


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``10.0.0.11, 10.0.1.0/24, ::1`` as networks; ValueError names a bad entry."""
    out: list[IPNetwork] = []
    for part in text.split(","):
        entry = part.strip()
        if not entry:
            continue
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
    return tuple(out)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings.from_env()

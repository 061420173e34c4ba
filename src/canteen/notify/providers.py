"""Providers behind one interface: ``await provider.send(msg) -> SendResult``.

Each provider turns a transport problem into a stable ``error`` code (never raises for a
receiver's failure), so the dispatcher decides retries in one place. They run in the
dispatcher (a job or the app's background loop), never on a request path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from canteen.settings import Settings

log = logging.getLogger("canteen.notify")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    notification_id: int
    channel: str  # sms | wechat | webhook
    address: str  # phone, openid or URL
    text: str
    kind: str
    urgent: bool
    # The webhook's JSON document and secret; WeChat template fields.
    document: dict[str, Any] = field(default_factory=dict)
    secret: str = ""


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    provider: str
    error: str = ""  # a code: http_5xx, http_4xx, timeout, connect_error, wechat_errcode, …
    ref: str = ""  # the provider's message id when it gives one
    logged_only: bool = False  # nothing configured: the message went to the log page only
    retryable: bool = True


class Provider(Protocol):
    name: str

    async def send(self, msg: OutgoingMessage) -> SendResult: ...


def _http_error(provider: str, exc: Exception) -> SendResult:
    if isinstance(exc, httpx.TimeoutException):
        return SendResult(False, provider, "timeout")
    if isinstance(exc, httpx.ConnectError):
        return SendResult(False, provider, "connect_error")
    return SendResult(False, provider, "transport_error")


def _status_error(provider: str, status: int) -> SendResult:
    # 4xx other than 408/429 will not get better by retrying (a bad number, a bad key).
    retry = status >= 500 or status in (408, 429)
    return SendResult(False, provider, "http_5xx" if status >= 500 else "http_4xx", retryable=retry)


class LogProvider:
    """The default when no gateway is configured: the message is kept on the log page only."""

    name = "log"

    async def send(self, msg: OutgoingMessage) -> SendResult:
        log.info(
            "notification logged", extra={"code": "notify_logged", "notification_id": msg.notification_id}
        )
        return SendResult(True, self.name, logged_only=True)


class SmsGatewayProvider:
    """A generic HTTP SMS gateway: ``POST {url}`` JSON ``{to, text}`` with ``Authorization: Bearer``."""

    name = "sms_gateway"

    def __init__(self, url: str, key: str, client: httpx.AsyncClient) -> None:
        self.url, self.key, self.client = url, key, client

    async def send(self, msg: OutgoingMessage) -> SendResult:
        try:
            r = await self.client.post(
                self.url,
                json={"to": msg.address, "text": msg.text},
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _http_error(self.name, exc)
        if r.status_code >= 300:
            return _status_error(self.name, r.status_code)
        ref = ""
        try:
            body = r.json()
            if isinstance(body, dict):
                ref = str(body.get("id") or body.get("message_id") or "")[:100]
        except ValueError:
            pass
        return SendResult(True, self.name, ref=ref)


class WeChatTemplateProvider:
    """WeChat official-account template messages: a cached access_token from
    ``GET {base}/cgi-bin/token``, then ``POST {base}/cgi-bin/message/template/send``."""

    name = "wechat"

    def __init__(
        self, base: str, appid: str, secret: str, template_id: str, client: httpx.AsyncClient
    ) -> None:
        self.base = base.rstrip("/")
        self.appid, self.secret, self.template_id, self.client = appid, secret, template_id, client

    # One token per (base, appid) for the process: each dispatcher run builds its providers
    # afresh, and WeChat limits how often a token may be fetched.
    _tokens: dict[tuple[str, str], tuple[str, float]] = {}

    def _forget_token(self) -> None:
        self._tokens.pop((self.base, self.appid), None)

    async def _access_token(self) -> str | SendResult:
        cached = self._tokens.get((self.base, self.appid))
        if cached and time.monotonic() < cached[1]:
            return cached[0]
        try:
            r = await self.client.get(
                f"{self.base}/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _http_error(self.name, exc)
        if r.status_code >= 300:
            return _status_error(self.name, r.status_code)
        try:
            body = r.json()
        except ValueError:
            return SendResult(False, self.name, "bad_response")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            return SendResult(False, self.name, "wechat_token")
        # Renew a minute early: the token may expire while a message is on its way.
        expires = time.monotonic() + max(int(body.get("expires_in", 7200)) - 60, 30)
        self._tokens[(self.base, self.appid)] = (str(token), expires)
        return str(token)

    async def send(self, msg: OutgoingMessage) -> SendResult:
        token = await self._access_token()
        if isinstance(token, SendResult):
            return token
        data = {k: {"value": v} for k, v in (msg.document or {"text": msg.text}).items()}
        try:
            r = await self.client.post(
                f"{self.base}/cgi-bin/message/template/send",
                params={"access_token": token},
                json={"touser": msg.address, "template_id": self.template_id, "data": data},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _http_error(self.name, exc)
        if r.status_code >= 300:
            return _status_error(self.name, r.status_code)
        try:
            body = r.json()
        except ValueError:
            return SendResult(False, self.name, "bad_response")
        code = int(body.get("errcode", 0)) if isinstance(body, dict) else -1
        if code in (40001, 42001):  # token invalid or expired: fetch a new one next time
            self._forget_token()
        if code != 0:
            # 43004: the user has unfollowed; retrying does not help.
            return SendResult(False, self.name, "wechat_errcode", retryable=code != 43004)
        return SendResult(True, self.name, ref=str(body.get("msgid", ""))[:100])


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` HMAC-SHA256 of ``timestamp + "." + body`` with the district's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookProvider:
    """The district's own system: ``POST`` JSON, signed with ``X-Canteen-Timestamp`` and
    ``X-Canteen-Signature: sha256=HMAC(secret, ts + "." + body)``."""

    name = "webhook"

    def __init__(self, client: httpx.AsyncClient, clock: Any = None) -> None:
        self.client = client
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    async def send(self, msg: OutgoingMessage) -> SendResult:
        body = json.dumps(msg.document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        ts = str(int(self.clock().timestamp()))
        try:
            r = await self.client.post(
                msg.address,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Canteen-Timestamp": ts,
                    "X-Canteen-Signature": sign(msg.secret, ts, body),
                },
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return _http_error(self.name, exc)
        if r.status_code >= 300:
            return _status_error(self.name, r.status_code)
        return SendResult(True, self.name)


@dataclass
class Providers:
    """The provider of each channel for one dispatcher run."""

    sms: Provider
    wechat: Provider
    webhook: Provider

    def for_channel(self, channel: str) -> Provider:
        return {"sms": self.sms, "wechat": self.wechat, "webhook": self.webhook}[channel]


def providers_from_settings(settings: Settings, client: httpx.AsyncClient) -> Providers:
    """SMS and WeChat from CANTEEN_NOTIFY_*; each missing one falls back to the log."""
    logp = LogProvider()
    sms: Provider = logp
    if settings.notify_sms_url:
        sms = SmsGatewayProvider(settings.notify_sms_url, settings.notify_sms_key or "", client)
    wechat: Provider = logp
    if settings.notify_wechat_appid and settings.notify_wechat_secret and settings.notify_wechat_template_id:
        wechat = WeChatTemplateProvider(
            settings.notify_wechat_base,
            settings.notify_wechat_appid,
            settings.notify_wechat_secret,
            settings.notify_wechat_template_id,
            client,
        )
    return Providers(sms=sms, wechat=wechat, webhook=WebhookProvider(client))

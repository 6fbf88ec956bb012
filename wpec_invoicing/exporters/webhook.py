"""Webhook exporter: POST each invoice as JSON, HMAC-SHA256 signed, retried with backoff.

The body is the invoice record plus the original file in base64 (`file_base64`). Headers:
`X-Wpec-Signature: sha256=<hex HMAC-SHA256, with the shared secret, of "<timestamp>.<body>">`
(the timestamp is part of the signed bytes, so a captured post cannot be replayed later with a
new timestamp), `X-Wpec-Timestamp` (that timestamp: Unix seconds) and `X-Wpec-Delivery`
(stable per invoice, so the receiver can drop a repeat). A secret is required: the config
refuses a webhook without one unless `unsigned = true` is written on purpose. 2xx = delivered;
408/425/429/5xx and network errors are retried with exponential backoff and jitter (honouring
Retry-After); other 4xx fail at once (retrying cannot help).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from typing import Any

import httpx

from wpec_invoicing.errors import ConfigError
from wpec_invoicing.exporters.base import ExportItem, ExportOutcome

RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


class WebhookExporter:
    def __init__(self, cfg: Any) -> None:
        if not cfg.url:
            raise ConfigError(f"exporter {cfg.name!r}: type webhook needs url")
        if not cfg.url.startswith(("https://", "http://127.", "http://localhost", "http://[::1]")):
            raise ConfigError(f"exporter {cfg.name!r}: url must be https:// (plain http only "
                              "to loopback)")
        self.cfg = cfg
        self.secret = cfg.secret()
        if not self.secret and not getattr(cfg, "unsigned", False):
            # An empty variable or file must not silently turn signing off.
            raise ConfigError(f"exporter {cfg.name!r}: the webhook secret is empty or missing "
                              "(set secret_env / secret_file, or write unsigned = true)")
        self.sleep = time.sleep

    def export(self, items: list[ExportItem]) -> list[ExportOutcome]:
        with httpx.Client(timeout=self.cfg.timeout_seconds, follow_redirects=False) as client:
            return [self._post(client, item) for item in items]

    def _post(self, client: httpx.Client, item: ExportItem) -> ExportOutcome:
        payload = dict(item.record)
        payload["file_base64"] = base64.b64encode(item.data).decode()
        body = json.dumps(payload, ensure_ascii=False, default=str).encode()
        ok, detail = self.post(client, body, f"{self.cfg.name}-{item.record['file_sha256']}")
        return ExportOutcome(item.invoice_id, ok, detail)

    def post(self, client: httpx.Client, body: bytes, delivery: str) -> tuple[bool, str]:
        """POST one signed body, retried as the module docstring says: (delivered, detail).
        Also used for event posts (exporters/events.py)."""
        last = "not attempted"
        for attempt in range(1, self.cfg.max_attempts + 1):
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json",
                       "X-Wpec-Timestamp": timestamp,
                       "X-Wpec-Delivery": delivery,
                       "User-Agent": "wpec_invoicing"}
            if self.secret:
                headers["X-Wpec-Signature"] = sign(self.secret, timestamp, body)
            retry_after = None
            try:
                response = client.post(self.cfg.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    return True, f"HTTP {response.status_code} after {attempt} attempt(s)"
                last = f"HTTP {response.status_code}"
                if response.status_code not in RETRYABLE:
                    return False, last
                retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt < self.cfg.max_attempts:
                delay = self.cfg.backoff_seconds * (2 ** (attempt - 1))
                delay = delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter
                self.sleep(min(60.0, max(delay, retry_after or 0)))
        return False, f"{last} after {self.cfg.max_attempts} attempt(s)"


def _retry_after(value: str | None) -> float | None:
    try:
        return min(60.0, float(value)) if value else None
    except ValueError:
        return None

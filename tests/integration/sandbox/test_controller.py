"""The Sandbox controller: config for the product, selftest on both servers, throttle math."""

from __future__ import annotations

from pathlib import Path

from tests.integration.sandbox.helpers import SELFTEST_CHECKS
from wpec_invoicing.sandbox import COMPANY, Sandbox
from wpec_invoicing.sandbox.selftest import run_selftest
from wpec_invoicing.sandbox.throttle import REPLY_451, REPLY_550, Throttle, ThrottleConfig


def test_selftest_passes(sb: Sandbox) -> None:
    checks = run_selftest(sb)
    assert [c for c in checks if not c.ok] == []
    assert [c.name for c in checks] == SELFTEST_CHECKS
    # It leaves the (shared) sandbox as it found it: timers, limits, no block, no switch.
    assert sb.provider.throttle.blocked(sb.host) is None
    assert sb.provider.drop_next_data is False
    assert sb.provider.preavviso_after == 0.5 and sb.provider.mancata_consegna_after is None


def test_written_config_is_what_the_product_loads(sb: Sandbox, tmp_path: Path) -> None:
    from wpec_invoicing.config import load_config

    path = sb.write_config(tmp_path / "conf" / "wpec.toml")
    config = load_config(path)
    account = config.account("main")
    assert account.address == COMPANY["address"]
    assert account.password() == sb.accounts[COMPANY["address"]]
    assert account.imap.port == sb.imap_port and account.smtp.port == sb.smtp_implicit_port
    assert Path(account.imap.ca_file).read_bytes() == sb.ca_path.read_bytes()
    assert sb.accounts[COMPANY["address"]] not in path.read_text()


def test_token_bucket_styles_with_a_fake_clock() -> None:
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    throttle.configure("a@x", ThrottleConfig(messages_per_minute=6, burst=2, style="451"))
    throttle.configure("b@x", ThrottleConfig(messages_per_minute=6, burst=1, style="550"))
    throttle.configure("c@x", ThrottleConfig(messages_per_minute=6, burst=1, style="block",
                                             block_seconds=30))
    assert throttle.check("a@x", "ip1") is None
    assert throttle.check("a@x", "ip1") is None
    assert throttle.check("a@x", "ip1") == REPLY_451
    now[0] = 10.0  # 6/min: one token every 10 s
    assert throttle.check("a@x", "ip1") is None
    assert throttle.check("b@x", "ip2") is None
    assert throttle.check("b@x", "ip2") == REPLY_550
    assert throttle.check("c@x", "ip3") is None
    assert throttle.check("c@x", "ip3").startswith("421")
    assert throttle.blocked("ip3") is not None and throttle.blocked("ip1") is None
    now[0] = 41.0
    assert throttle.blocked("ip3") is None
    assert throttle.check("unlimited@x", "ip1") is None

"""`wpec trust add|add-list|list|remove` on a real folder, and what a signature check then
sees: a trusted list signed by a test key adds its qualified CA; a tampered list, or one
checked against another pinned certificate, is refused whole and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from wpec_invoicing.cli import app
from wpec_invoicing.cms import certs, sign_attached
from wpec_invoicing.errors import WpecError

from .tl import sign_list, trusted_list


@pytest.fixture
def wpec(tmp_path, monkeypatch):
    config = tmp_path / "wpec.toml"
    config.write_text('data_dir = "data"\n')
    monkeypatch.setenv("WPEC_CONFIG", str(config))

    def run(*args: str):
        result = CliRunner().invoke(app, list(args))
        exc = result.exception
        if isinstance(exc, WpecError):  # what main() prints: one line, its exit code
            return SimpleNamespace(exit_code=exc.exit_code, stdout=result.stdout,
                                   output=result.output + f"wpec: error: {exc}")
        assert exc is None or isinstance(exc, SystemExit), repr(exc)
        return result

    return run


@pytest.fixture(scope="module")
def operator():
    return certs.make_ca("Test Trusted List Operator", organization="Supervisory Body")


def _pem(tmp_path: Path, name: str, *items) -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(certs.cert_to_pem(c) for c in items))
    return path


def _list(pki, operator, tmp_path: Path) -> tuple[Path, Path]:
    key, cert = operator
    _other_key, other = certs.make_ca("Withdrawn QTSP CA")
    root = trusted_list([
        ("Test QTSP", "CA/QC", "granted", pki.root.cert),
        ("Old QTSP", "CA/QC", "withdrawn", other),
    ])
    path = tmp_path / "IT-TL.xml"
    path.write_bytes(sign_list(root, key, cert))
    return path, _pem(tmp_path, "operator.pem", cert)


def test_add_list_lists_remove(wpec, pki, operator, tmp_path):
    tl, pin = _list(pki, operator, tmp_path)
    added = wpec("trust", "add-list", str(tl), "--pin", str(pin), "--json")
    assert added.exit_code == 0, added.output
    result = json.loads(added.stdout)
    assert (result["territory"], result["sequence"], result["services"]) == ("IT", "42", 2)
    assert result["skipped"] == 1 and len(result["added"]) == 1
    pec = wpec("trust", "add", str(_pem(tmp_path, "prov.pem", pki.inter.cert)))
    assert pec.exit_code == 0
    listed = json.loads(wpec("trust", "list", "--json").stdout)
    by_subject = {e["subject"]: e for e in listed}
    qca = by_subject["CN=Test Root CA,O=wpec tests,C=IT"]
    assert qca["purpose"] == "qualified-ca" and qca["source"].startswith("trusted list IT #42")
    assert qca["status"] == "granted" and qca["not_after"] > qca["not_before"]
    assert by_subject["CN=Test Intermediate CA,O=wpec tests,C=IT"]["purpose"] == "pec-provider"
    human = wpec("trust", "list")
    assert "qualified-ca" in human.stdout and "Test Root CA" in human.stdout
    gone = wpec("trust", "remove", qca["fingerprint"][:12], "--json")
    assert gone.exit_code == 0 and len(json.loads(gone.stdout)) == 1
    assert len(json.loads(wpec("trust", "list", "--json").stdout)) == 1
    again = wpec("trust", "remove", qca["fingerprint"][:12])
    assert again.exit_code == 2 and "matches" in again.output


@pytest.mark.parametrize("tamper", ["content", "pin"])
def test_tampered_or_foreign_list_is_refused(wpec, pki, operator, tmp_path, tamper):
    tl, pin = _list(pki, operator, tmp_path)
    if tamper == "content":
        tl.write_bytes(tl.read_bytes().replace(b"withdrawn", b"granted"))
    else:
        _, stranger = certs.make_ca("Someone Else")
        pin = _pem(tmp_path, "stranger.pem", stranger)
    refused = wpec("trust", "add-list", str(tl), "--pin", str(pin))
    assert refused.exit_code == 2
    assert "refused" in refused.output and "Traceback" not in refused.output
    assert json.loads(wpec("trust", "list", "--json").stdout) == []


def test_list_shows_the_config_trust_store_too(wpec, pki, tmp_path):
    _pem(tmp_path, "own.pem", pki.root.cert)
    (tmp_path / "wpec.toml").write_text('data_dir = "data"\ntrust_store = "own.pem"\n')
    (entry,) = json.loads(wpec("trust", "list", "--json").stdout)
    assert entry["purpose"] == "any" and entry["source"].startswith("config trust_store")
    assert entry["subject"] == "CN=Test Root CA,O=wpec tests,C=IT"


def test_not_a_list_and_bad_pem_are_one_line(wpec, tmp_path):
    bad = tmp_path / "x.xml"
    bad.write_text("<a/>")
    pin = tmp_path / "pin.pem"
    pin.write_text("nothing here")
    out = wpec("trust", "add-list", str(bad), "--pin", str(pin))
    assert out.exit_code == 2 and "no PEM certificate" in out.output
    out = wpec("trust", "add", str(pin))
    assert out.exit_code == 2 and "no PEM certificate" in out.output


def test_invoice_signed_under_a_listed_qualified_ca_validates_with_revocation(
        wpec, pki, operator, tmp_path):
    tl, pin = _list(pki, operator, tmp_path)
    assert wpec("trust", "add-list", str(tl), "--pin", str(pin)).exit_code == 0
    p7m = tmp_path / "IT01234567897_00001.xml.p7m"
    for name, expect in (("qualified", "good"), ("revoked", "revoked")):
        p7m.write_bytes(sign_attached(
            (Path(__file__).parents[3] / "data/demo").joinpath(
                next(p.name for p in (Path(__file__).parents[3] / "data/demo").iterdir()
                     if p.suffix == ".xml")).read_bytes(),
            pki.key(name), pki.cert(name), extra_certs=[pki.inter.cert],
            signing_time=datetime.now(UTC) - timedelta(minutes=1)))
        out = wpec("invoice", "validate", "--json", str(p7m))
        sig = json.loads(out.stdout)["signature"]
        assert sig["revocation"]["status"] == expect
        assert sig["trusted"] is (expect == "good")
        assert sig["qualified"] is (name == "qualified")
        assert sig["validated_at_source"] == "signing_time" and sig["checked_at"]
    off = wpec("invoice", "validate", "--json", "--revocation", "off", str(p7m))
    assert json.loads(off.stdout)["signature"]["revocation"] is None


def test_a_qualified_ca_from_a_list_does_not_vouch_for_pec_messages(
        wpec, pki, operator, tmp_path):
    from wpec_invoicing.cms import open_signed_data, sign_detached, verify_detached
    from wpec_invoicing.config import load_config
    from wpec_invoicing.trust import load_trust

    tl, pin = _list(pki, operator, tmp_path)
    assert wpec("trust", "add-list", str(tl), "--pin", str(pin)).exit_code == 0
    trust = load_trust(load_config(), policy="off")
    key, cert = pki.key("qualified"), pki.cert("qualified")
    receipt = verify_detached(b"body", sign_detached(b"body", key, cert,
                                                     extra_certs=[pki.inter.cert]), trust=trust)
    assert receipt.intact and receipt.trusted is False
    assert "PEC messages" in receipt.reason
    _, invoice = open_signed_data(sign_attached(b"<x/>", key, cert,
                                                extra_certs=[pki.inter.cert]), trust=trust)
    assert invoice.trusted is True
    assert wpec("trust", "add", str(_pem(tmp_path, "r.pem", pki.inter.cert))).exit_code == 0
    trust = load_trust(load_config(), policy="off")
    receipt = verify_detached(b"body", sign_detached(b"body", key, cert,
                                                     extra_certs=[pki.inter.cert]), trust=trust)
    assert receipt.trusted is True  # now a PEC provider's CA of the store vouches for it
    _, invoice = open_signed_data(sign_attached(b"<x/>", key, cert,
                                                extra_certs=[pki.inter.cert]), trust=trust)
    assert invoice.trusted is True  # past the PEC-only intermediate, the qualified root

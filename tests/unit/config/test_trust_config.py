"""`[trust]`: defaults, validation, and the copy of them used by commands without a config."""

from __future__ import annotations

from pathlib import Path

import pytest

from wpec_invoicing import config as cfg
from wpec_invoicing import trust
from wpec_invoicing.config import TrustConfig, config_from_dict
from wpec_invoicing.errors import ConfigError


def test_defaults_without_a_config_file_match_the_config_model():
    model = TrustConfig()
    copy = trust.TrustDefaults()
    for name in TrustConfig.model_fields:
        assert getattr(copy, name) == getattr(model, name), name
    assert (trust.CONFIG_ENV, trust.DEFAULT_FILE, trust.DEFAULT_DATA_DIR) == (
        cfg.CONFIG_ENV, cfg.DEFAULT_FILE, cfg.DEFAULT_DATA_DIR)


def test_policies_and_paths(tmp_path: Path):
    config = config_from_dict({"data_dir": "d", "trust": {
        "revocation_invoices": "hard-fail", "offline": True}}, base=tmp_path)
    settings = trust.revocation_settings(config)
    assert settings.policies == {"pec": "soft-fail", "invoice": "hard-fail"}
    assert settings.offline is True
    assert settings.cache_dir == tmp_path / "d" / "revocation-cache"
    assert trust.revocation_settings(config, policy="off").policies["invoice"] == "off"


@pytest.mark.parametrize("bad", [{"revocation_pec": "sometimes"}, {"timeout_seconds": 0},
                                 {"typo": 1}])
def test_bad_trust_config_is_one_clear_error(tmp_path: Path, bad):
    with pytest.raises(ConfigError, match="trust"):
        config_from_dict({"trust": bad}, base=tmp_path)


def test_nothing_to_trust_is_answered_without_the_certificate_stack(tmp_path: Path,
                                                                    monkeypatch):
    """`cli_trust` without `--trust`, config file or managed store is None, as `load_trust`
    would say, and importing `trust` and asking does not import cryptography or `cms` (what
    `wpec invoice validate` on plain XML would pay at every start)."""
    import subprocess
    import sys

    from wpec_invoicing.trust.store import ManagedStore

    assert ManagedStore(tmp_path)._index_path == tmp_path / trust.MANAGED_INDEX
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(trust.CONFIG_ENV, raising=False)
    config = trust._command_config()
    assert trust._nothing_to_trust(config)
    assert trust.cli_trust(None) is None
    assert trust.load_trust(config) is None
    code = ("import sys; from wpec_invoicing.trust import cli_trust; "
            "assert cli_trust(None) is None; "
            "print(sorted(m for m in sys.modules if m.startswith(('cryptography', "
            "'wpec_invoicing.cms', 'asn1crypto'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, check=True)
    assert out.stdout.strip() == "[]"
    # a managed store index, even empty, is read the long way (same answer)
    (tmp_path / trust.DEFAULT_DATA_DIR / "trust").mkdir(parents=True)
    (tmp_path / trust.DEFAULT_DATA_DIR / "trust" / trust.MANAGED_INDEX).write_text("{}")
    assert not trust._nothing_to_trust(config)
    assert trust.cli_trust(None) is None

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

"""Any bytes as wpec.toml: a Config or one clear ConfigError, never another exception."""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.config import config_from_dict, load_config
from wpec_invoicing.errors import ConfigError

toml_values = st.recursive(
    st.none().map(lambda _: "x") | st.booleans() | st.integers(-10**6, 10**6)
    | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
keys = st.sampled_from(["data_dir", "store_url", "trust_store", "company", "sdi", "accounts",
                        "rules", "exporters", "outbox", "suppliers_csv", "other"])


@settings(max_examples=200)
@given(st.dictionaries(keys, toml_values, max_size=5))
def test_any_document_gives_a_config_or_a_config_error(data: dict) -> None:
    try:
        config_from_dict(data, base=Path("/tmp/wpec-prop"))
    except ConfigError as exc:
        assert str(exc)
        assert "Traceback" not in str(exc)


@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_any_bytes_as_the_file(tmp_path_factory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "wpec.toml"
    path.write_bytes(raw)
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc) or "invalid configuration" in str(exc)

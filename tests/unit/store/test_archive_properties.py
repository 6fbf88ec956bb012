"""The archive and the file-name rules under arbitrary input."""

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.rules.files import check_format, render_path, safe_name
from wpec_invoicing.store.archive import Archive, sha256_hex


@settings(max_examples=50)
@given(st.lists(st.binary(max_size=2000), max_size=5))
def test_put_many_then_get_round_trips(tmp_path_factory, blobs: list[bytes]) -> None:
    archive = Archive(tmp_path_factory.mktemp("a"))
    digests = archive.put_many(blobs)
    assert digests == [sha256_hex(b) for b in blobs]
    for blob, digest in zip(blobs, digests, strict=True):
        assert archive.get(digest) == blob
    digest, size = archive.put_stream(iter(blobs))
    assert archive.get(digest) == b"".join(blobs) and size == sum(map(len, blobs))


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_safe_name_is_never_a_path(name: str) -> None:
    safe = safe_name(name)
    assert safe and "/" not in safe and "\\" not in safe and ".." not in safe
    assert safe not in (".", "..") and len(safe) <= 120
    assert all(ch.isprintable() for ch in safe)


@settings(max_examples=200)
@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=30))
def test_rendered_paths_stay_under_the_root(sender: str, subject: str, kind: str) -> None:
    from datetime import UTC, datetime

    root = Path("/tmp/wpec-root")
    folder = render_path("{kind}/{sender}/{subject}/{date:%Y}", root=root, kind=kind,
                         date=datetime(2026, 1, 1, tzinfo=UTC), sender=sender,
                         subject=subject, message_id=1, sha256="0" * 64)
    assert folder.resolve().is_relative_to(root.resolve())


@settings(max_examples=200)
@given(st.text(max_size=20), st.binary(max_size=100))
def test_check_format_always_gives_a_verdict(name: str, data: bytes) -> None:
    verdict = check_format(name, data, ["pdf", "xml", "txt", "zip"])
    assert verdict.accepted in (True, False)
    if not verdict.accepted:
        assert verdict.reason


def test_a_link_below_the_root_that_leads_out_is_refused(tmp_path: Path) -> None:
    """Only a symbolic link can take a rendered path (safe names) out of the root: one
    that leads out is refused, one that stays inside is followed, whatever its depth."""
    from datetime import UTC, datetime

    import pytest

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sdi" / "inside").mkdir(parents=True)
    outside.mkdir()
    (root / "sdi" / "out").symlink_to(outside)
    (root / "sdi" / "here").symlink_to(root / "sdi" / "inside")

    def render(sender: str) -> Path:
        return render_path("{kind}/{sender}/{date:%Y}", root=root, kind="sdi",
                           date=datetime(2026, 1, 1, tzinfo=UTC), sender=sender,
                           subject=None, message_id=1, sha256="0" * 64)

    with pytest.raises(ValueError, match="escapes"):
        render("out")
    assert render("here") == root / "sdi" / "here" / "2026"
    assert render("new-sender") == root / "sdi" / "new-sender" / "2026"
    (root / "sdi" / "new-sender").mkdir()
    (root / "sdi" / "new-sender" / "2026").symlink_to(outside)
    with pytest.raises(ValueError, match="escapes"):
        render("new-sender")

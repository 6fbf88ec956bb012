"""The compiled twins (`_native.pyx`) give exactly what their pure-Python references give.

Each compiled function is compared with its twin on generated input: the valid-file
extractor on valid invoices (and on the variants that must send both to the tolerant path),
the check digit on any string. A last test runs the whole CLI in a child process with the
compiled code switched off (WPEC_PURE_PYTHON=1) and compares its verdicts, byte for byte,
with the compiled run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.unit.fatturapa.strategies import valid_ordinary
from tests.unit.fatturapa.test_roundtrip import doc_ord
from wpec_invoicing.fatturapa import extract_valid as ev
from wpec_invoicing.fatturapa import identifiers, native, write_invoice
from wpec_invoicing.fatturapa.model import VatId
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.fatturapa.schema import hardened_parser, validate
from wpec_invoicing.fatturapa.treewalk import Unexpected, make_py
from wpec_invoicing.resources import data_dir

PURE = os.environ.get("WPEC_PURE_PYTHON", "") not in ("", "0")
needs_native = pytest.mark.skipif(
    native.compiled is None, reason="compiled twins switched off by WPEC_PURE_PYTHON"
)


def test_the_compiled_twins_are_built():
    """`make test` builds them (`make native`); a stale or missing build must not pass
    silently as 'plain Python' in CI."""
    modules = [__import__(f"wpec_invoicing.fatturapa.{m}", fromlist=["_"])
               for m in ("checks", "identifiers", "naming", "reader")]
    if PURE:  # everything from the .py files
        assert native.compiled is None
        assert all(Path(m.__file__).suffix == ".py" for m in modules)
        return
    assert native.NATIVE, "the compiled accelerators are not built: run `make native`"
    for mod in modules:
        assert Path(mod.__file__).suffix == ".so", f"{mod.__name__} runs uncompiled"


def _outcome(extractor, root):
    try:
        return extractor(root)
    except Unexpected:
        return "unexpected"
    except (KeyError, TypeError, AttributeError, ValueError, ArithmeticError):
        return "unexpected"  # extract_valid turns these into Unexpected for both twins


def _same(data: bytes) -> None:
    root = etree.fromstring(data, hardened_parser())
    pure = _outcome(ev._document, root)
    compiled = _outcome(native.compiled.extract_valid, root)
    assert compiled == pure
    assert repr(compiled) == repr(pure)


@needs_native
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ordinary())
def test_compiled_extractor_matches_the_python_one_on_valid_invoices(doc):
    data = write_invoice(doc)
    root = etree.fromstring(data, hardened_parser())
    assert validate(root)[1] == []
    _same(data)


@needs_native
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(doc_ord)
def test_compiled_extractor_matches_the_python_one_on_any_shape(doc):
    data = write_invoice(doc)
    _same(data)
    _same(data.replace(b"<Descrizione>", b"<Descrizione> \n\xc2\xa0"))  # NBSP: str.strip
    _same(data.replace(b"<Descrizione>", b"<Descrizione><![CDATA[a]]>b<![CDATA[c]]>"))
    _same(data.replace(b"</IdCodice>", b"<!-- c --></IdCodice>"))
    _same(data.replace(b"</Numero>", b"<?pi x?></Numero>"))
    _same(data.replace(b"<IdPaese>IT</IdPaese>", b"<IdPaese/>", 1))


@needs_native
def test_compiled_extractor_on_large_and_lotto_samples():
    for lines, bodies in ((1, 1), (200, 2)):
        _same(write_invoice(sample_invoice(lines=lines, bodies=bodies)))


@needs_native
def test_compiled_make_builds_the_same_value():
    a = native.compiled.make(VatId, {"country": "IT", "code": "1"})
    b = make_py(VatId, {"country": "IT", "code": "1"})
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    with pytest.raises(Exception, match="cannot assign"):
        a.code = "2"  # still frozen


def _validate_json(env: dict) -> list[dict]:
    files = sorted(str(p) for p in (data_dir() / "demo").rglob("*") if p.is_file()
                   and p.suffix in (".xml", ".p7m"))
    assert len(files) >= 6
    run = subprocess.run(
        [sys.executable, "-m", "wpec_invoicing", "invoice", "validate", "--json", *files],
        capture_output=True, env=env, timeout=120, check=False,
    )
    assert run.returncode in (0, 1, 2), run.stderr.decode()  # data/demo/invalid has all three
    return [json.loads(line) for line in run.stdout.decode().splitlines()]


@needs_native
def test_pure_python_and_compiled_runs_give_the_same_verdicts():
    env = {k: v for k, v in os.environ.items() if k != "WPEC_PURE_PYTHON"}
    compiled = _validate_json(env)
    pure = _validate_json({**env, "WPEC_PURE_PYTHON": "1"})
    assert compiled == pure
    assert any(not r["valid"] for r in compiled) and any(r["valid"] for r in compiled)


@needs_native
def test_the_fatturapa_suite_passes_as_plain_python():
    """Where nothing could be compiled the package runs its Python twins: the whole format
    suite must pass that way too (in a child process, with the compiled code switched off)."""
    here = Path(__file__).resolve().parent
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here),
         "-k", "not plain_python"],
        capture_output=True, env={**os.environ, "WPEC_PURE_PYTHON": "1"}, timeout=600,
        check=False, cwd=here.parents[2],
    )
    tail = run.stdout.decode(errors="replace")[-2000:]
    assert run.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail


@needs_native
@given(st.text(max_size=13) | st.from_regex(r"[0-9]{11}", fullmatch=True)
       | st.builds(identifiers.make_partita_iva, st.from_regex(r"[0-9]{10}", fullmatch=True)))
def test_compiled_partita_iva_matches_the_python_one(code):
    compiled = native.compiled.is_valid_partita_iva(code)
    saved = identifiers._native_is_valid_partita_iva
    identifiers._native_is_valid_partita_iva = None
    try:
        pure = identifiers.is_valid_partita_iva(code)
    finally:
        identifiers._native_is_valid_partita_iva = saved
    assert compiled == pure


@needs_native
def test_compiled_partita_iva_leaves_other_types_to_python():
    assert native.compiled.is_valid_partita_iva(None) is None
    assert identifiers.is_valid_partita_iva(None) is False


@needs_native
def test_an_empty_repeated_container_sends_both_twins_to_the_tolerant_path():
    data = write_invoice(sample_invoice(lines=2))
    start, end = data.index(b"<DatiRiepilogo>"), data.index(b"</DatiRiepilogo>") + 16
    root = etree.fromstring(data[:start] + b"<DatiRiepilogo/>" + data[end:], hardened_parser())
    assert _outcome(native.compiled.extract_valid, root) == "unexpected"
    assert _outcome(ev._document, root) == "unexpected"


def test_wpec_pure_python_0_is_the_same_as_unset():
    def native_in_child(value: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "WPEC_PURE_PYTHON"}
        if value is not None:
            env["WPEC_PURE_PYTHON"] = value
        return subprocess.run(
            [sys.executable, "-c",
             "from wpec_invoicing.fatturapa import native; print(native.NATIVE)"],
            capture_output=True, text=True, env=env, timeout=60, check=False).stdout.strip()

    assert native_in_child("0") == native_in_child(None) == "True"
    assert native_in_child("1") == "False"

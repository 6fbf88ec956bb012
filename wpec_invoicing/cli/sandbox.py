"""`wpec sandbox up | selftest | inject-invoice | make-invoices`: the local PEC provider + SdI.

Thin: parse arguments, call `wpec_invoicing.sandbox`, print. Reports (the banner, the
checks, what was written or delivered, `--json`) go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import json
import math
import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.groups import sandbox_app
from wpec_invoicing.cli.options import JsonOpt
from wpec_invoicing.errors import InputError, WpecError

DEFAULT_DIR = "sandbox"
CONFIG_HEADER = "# Written by `wpec sandbox`"

ImapOption = Annotated[str, typer.Option("--imap", metavar="SERVER",
                                         help="IMAP server: embedded (pymap) or dovecot "
                                              "(needs dovecot-imapd).")]
DirOption = Annotated[str, typer.Option("--dir", metavar="DIR",
                                        help="Sandbox folder (CA, passwords, mail).")]

_err = output.note  # a diagnostic: stderr


def _check_imap(imap: str) -> None:
    if imap not in ("embedded", "dovecot"):
        raise InputError(f"--imap must be 'embedded' or 'dovecot', not {imap!r}")


def _ensure_folder(path: Path, option: str) -> None:
    """Create `path` as a folder, or say clearly why it cannot be one."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot create the folder: "
                         f"{exc.strerror or exc}") from None


def _check_seconds(value: float, option: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{option} {value}: must be a number of seconds, 0 or more")


def _start(directory: Path, imap: str, **kwargs: Any) -> Any:
    from wpec_invoicing.sandbox import Sandbox, SandboxError

    try:
        return Sandbox(directory, imap=imap, **kwargs).start()
    except SandboxError as exc:
        raise WpecError(f"sandbox: {exc}") from None
    except (OSError, RuntimeError) as exc:  # e.g. a port given on the command line is taken
        raise WpecError(f"sandbox in {directory}: cannot start ({exc})") from None


def _config_target(path: Path, directory: Path) -> Path:
    """Never overwrite a wpec.toml the sandbox did not write: fall back to DIR/wpec.toml."""
    if path.exists():
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:200]
        except OSError:
            head = ""
        if not head.startswith(CONFIG_HEADER):
            fallback = directory / "wpec.toml"
            output.note(f"{path} exists and was not written by the sandbox: left untouched, "
                        f"config written to {fallback} instead")
            return fallback
    return path


@sandbox_app.command("up")
def up(
    directory_arg: DirOption = DEFAULT_DIR,
    imap: ImapOption = "embedded",
    write_config: Annotated[str, typer.Option(
        "--write-config", metavar="FILE",
        help="Where to WRITE the wpec.toml pointing the product here (never overwrites one "
             "the sandbox did not write).")] = "wpec.toml",
    smtp_port: Annotated[int, typer.Option(
        metavar="PORT", help="SMTP submission, implicit TLS (0: a free port).")] = 0,
    smtp_starttls_port: Annotated[int, typer.Option(
        metavar="PORT", help="SMTP submission, STARTTLS (0: a free port).")] = 0,
    smtp_inbound_port: Annotated[int, typer.Option(
        metavar="PORT", help="Plain SMTP for ordinary mail (0: a free port).")] = 0,
    imap_port: Annotated[int, typer.Option(
        metavar="PORT", help="IMAP, implicit TLS (0: a free port).")] = 0,
    imap_starttls_port: Annotated[int, typer.Option(
        metavar="PORT", help="IMAP with STARTTLS (0: a free port).")] = 0,
    stall: Annotated[list[str] | None, typer.Option(
        "--stall", metavar="ADDRESS", show_default=False,
        help="Deliveries to this box stay pending (its server does not answer): the sender "
             "gets a preavviso after --preavviso-after, then an errore-consegna after "
             "--give-up-after; repeatable.")] = None,
    preavviso_after: Annotated[float, typer.Option(
        "--preavviso-after", metavar="SECONDS",
        help="How long a stalled delivery waits before the preavviso di mancata consegna "
             "(real providers: 12 h).")] = 30.0,
    give_up_after: Annotated[float | None, typer.Option(
        "--give-up-after", metavar="SECONDS", show_default=False,
        help="How long after the preavviso a stalled delivery is given up: errore-consegna "
             "4.4.7 (real providers: 24 h in all). Default: it stays pending.")] = None,
    drop_next_data: Annotated[bool, typer.Option(
        "--drop-next-data", help="Drop the connection in the middle of the first SMTP DATA "
                                 "(once): no reply, nothing accepted. A client must retry "
                                 "without sending twice.")] = False,
    size_limit: Annotated[int | None, typer.Option(
        "--size-limit", metavar="BYTES", show_default=False,
        help="The provider's limit on message size x recipients (default 30 MB); past it: "
             "non-accettazione.")] = None,
    block_seconds: Annotated[float, typer.Option(
        "--block-seconds", metavar="SECONDS",
        help="How long a block-style --throttle blocks the client (421).")] = 30.0,
    pa_outcome: Annotated[str, typer.Option(
        metavar="OUTCOME",
        help="SdI's answer after the RC of an FPA12 invoice: EC01, EC02, DT or none.")] = "EC01",
    sdi_delay: Annotated[float, typer.Option(
        metavar="SECONDS", help="How long SdI waits before answering.")] = 0.0,
    route: Annotated[list[str] | None, typer.Option(
        "--route", metavar="CODE=ADDRESS", show_default=False,
        help="SdI directory entry (CodiceDestinatario or customer VAT like IT12345678903 → "
             "PEC box); repeatable.")] = None,
    throttle: Annotated[list[str] | None, typer.Option(
        "--throttle", metavar="ADDRESS=PER_MINUTE[/BURST][:451|550|block]", show_default=False,
        help="The provider's sending limit for that sender; repeatable.")] = None,
    quota: Annotated[list[str] | None, typer.Option(
        "--quota", metavar="ADDRESS=BYTES", show_default=False,
        help="Mailbox quota (delivery fails past it); repeatable.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print endpoints and accounts as "
                                                          "one JSON line on stdout.")] = False,
) -> None:
    """Run the sandbox in the foreground until Ctrl-C: PEC provider (SMTP), IMAP, SdI.

    Controls to exercise a client's failure paths: --stall with --preavviso-after and
    --give-up-after (preavviso, then errore-consegna 4.4.7), --drop-next-data,
    --size-limit, --throttle with --block-seconds, --quota, --route.
    """
    from wpec_invoicing.sandbox import control

    directory = Path(directory_arg)
    _check_imap(imap)
    _check_seconds(preavviso_after, "--preavviso-after")
    _check_seconds(sdi_delay, "--sdi-delay")
    for option, port in (("--smtp-port", smtp_port), ("--smtp-starttls-port", smtp_starttls_port),
                         ("--smtp-inbound-port", smtp_inbound_port), ("--imap-port", imap_port),
                         ("--imap-starttls-port", imap_starttls_port)):
        if not 0 <= port <= 65535:
            raise InputError(f"{option} {port}: a TCP port is 1-65535 (0: pick a free one)")
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--dir {directory}: exists and is not a folder")
    for option, seconds in (("--preavviso-after", preavviso_after),
                            ("--give-up-after", give_up_after)):
        if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
            raise InputError(f"{option} {seconds}: must be a number of seconds, 0 or more")
    if not (math.isfinite(block_seconds) and block_seconds > 0):
        raise InputError(f"--block-seconds {block_seconds}: must be a number of seconds > 0")
    if size_limit is not None and size_limit < 1:
        raise InputError(f"--size-limit {size_limit}: must be a number of bytes, 1 or more")
    if pa_outcome.upper() not in ("EC01", "EC02", "DT", "NONE"):
        raise InputError(f"--pa-outcome must be EC01, EC02, DT or none, not {pa_outcome!r}")
    routing: dict[str, str] = {}
    for entry in route or []:
        code, sep, address = entry.partition("=")
        if not sep or not code.strip() or "@" not in address:
            raise InputError(f"--route {entry!r}: expected CODE=ADDRESS, e.g. "
                             "ABC1234=cliente@pec.sandbox.test")
        routing[code.strip().upper()] = address.strip().lower()
    throttles, quotas = _parse_limits(throttle or [], quota or [], block_seconds)
    directory = directory.resolve()
    running = control.running_state(directory)
    if running is not None:  # two providers on one mail store would corrupt it
        raise InputError(f"a sandbox is already running in {directory} (pid {running['pid']}); "
                         "stop it first or choose another --dir")
    outcome = None if pa_outcome.upper() == "NONE" else pa_outcome.upper()
    sb = _start(directory, imap, sdi_pa_outcome=outcome, sdi_delay=sdi_delay,
                sdi_directory=routing, smtp_implicit_port=smtp_port,
                smtp_starttls_port=smtp_starttls_port, smtp_inbound_port=smtp_inbound_port,
                imaps_port=imap_port, imap_port=imap_starttls_port,
                preavviso_after=preavviso_after, mancata_consegna_after=give_up_after,
                max_total_bytes=size_limit)
    stop = threading.Event()
    try:
        for address, cfg in throttles:
            sb.provider.throttle.configure(address, cfg)
        for address, size in quotas:
            if sb.registry.get(address) is None:
                raise InputError(f"--quota {address}: no such mailbox in the sandbox")
            sb.set_quota(address, size)
        stalled = sorted({a.strip().lower() for a in stall or []})
        for address in stalled:
            if sb.registry.get(address) is None:
                raise InputError(f"--stall {address}: no such mailbox in the sandbox")
            sb.stall(address)
        if drop_next_data:
            sb.drop_next_data()
        controls = {"preavviso_after": preavviso_after, "give_up_after": give_up_after,
                    "drop_next_data": drop_next_data,
                    "size_limit": sb.provider.max_total_bytes, "block_seconds": block_seconds,
                    "stalled": stalled}
        from wpec_invoicing.sandbox import COMPANY_ADDRESS

        # with the company's address: `wpec invoice create` works on this configuration
        target = sb.write_config(_config_target(Path(write_config).resolve(), directory),
                                 outbox_supplier=COMPANY_ADDRESS)
        endpoints = sb.endpoints()
        control.write_state(directory, {**endpoints, "config": str(target)})
        (directory / "last-imap").write_text(imap, encoding="utf-8")
        accounts = {a: {"password": pw, "password_file": str(sb.password_file(a))}
                    for a, pw in sorted(sb.accounts.items())}
        if json_out:
            # One line, so a script can read it and keep the process running.
            print(json.dumps({"endpoints": endpoints, "accounts": accounts,
                              "config": str(target), "controls": controls}), flush=True)
        else:
            _print_banner(sb, target, accounts, controls)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_a: stop.set())
        while not stop.wait(0.2):
            control.serve_spool(directory, sb)
            sb.apply_lifecycle()  # `wpec sandbox account ...` changed a box's state
    finally:
        control.clear_state(directory)
        sb.stop()
        _err("sandbox stopped")


def _parse_limits(throttles: list[str], quotas: list[str], block_seconds: float = 30.0
                  ) -> tuple[list[tuple[str, Any]], list[tuple[str, int]]]:
    """Check --throttle/--quota before anything starts: (address, ThrottleConfig), (address,
    bytes)."""
    from wpec_invoicing.sandbox.throttle import ThrottleConfig

    parsed_t: list[tuple[str, Any]] = []
    for entry in throttles:
        address, sep, spec = entry.partition("=")
        rate_part, _c, style = spec.partition(":")
        rate, _s, burst = rate_part.partition("/")
        try:
            if not sep or "@" not in address:
                raise ValueError("expected ADDRESS=PER_MINUTE[/BURST][:451|550|block]")
            parsed_t.append((address.strip().lower(),
                             ThrottleConfig(float(rate), int(burst or 1), style or "451",
                                            block_seconds)))
        except ValueError as exc:
            raise InputError(f"--throttle {entry!r}: {exc}") from None
    parsed_q: list[tuple[str, int]] = []
    for entry in quotas:
        address, sep, size = entry.partition("=")
        if not sep or "@" not in address or not size.strip().isdigit():
            raise InputError(f"--quota {entry!r}: expected ADDRESS=BYTES")
        parsed_q.append((address.strip().lower(), int(size)))
    return parsed_t, parsed_q


def _print_banner(sb: Any, config: Path, accounts: dict[str, dict[str, str]],
                  controls: dict[str, Any]) -> None:
    e = sb.endpoints()
    lines = [
        f"wpec sandbox running ({e['imap_server']} IMAP) in {sb.directory}",
        f"  SMTP submission  {e['host']}:{e['smtp_implicit_tls']} (implicit TLS), "
        f"{e['host']}:{e['smtp_starttls']} (STARTTLS); AUTH PLAIN/LOGIN",
        f"  SMTP inbound     {e['host']}:{e['smtp_inbound_plain']} (ordinary mail -> ANOMALIA)",
        f"  IMAP             {e['host']}:{e['imap_implicit_tls']} (implicit TLS), "
        f"{e['host']}:{e['imap_starttls']} (STARTTLS)",
        f"  CA certificate   {e['ca']}  (trust it for TLS and PEC signatures)",
        f"  SdI              {e['sdi']} (answers from a dedicated sdiNN address)",
        f"  wpec.toml        {config}",
        f"  controls         preavviso after {controls['preavviso_after']} s, give up "
        + (f"{controls['give_up_after']} s later" if controls["give_up_after"] is not None
           else "never")
        + f", size limit {controls['size_limit']} B"
        + (f", stalled: {', '.join(controls['stalled'])}" if controls["stalled"] else "")
        + (", next DATA dropped" if controls["drop_next_data"] else ""),
        "  accounts:",
    ]
    lines += [f"    {a:34} {v['password']}" for a, v in accounts.items()]
    lines.append("Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


@sandbox_app.command("selftest")
def selftest(
    imap: ImapOption = "embedded",
    directory_arg: Annotated[str | None, typer.Option(
        "--dir", metavar="DIR", show_default=False,
        help="Sandbox folder (default: a temporary one).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Start a sandbox and check every receipt kind and SdI answer.

    Sends with smtplib, reads with imapclient, verifies signatures against the sandbox CA.
    Exit 0, or 1 saying what failed.
    """
    from wpec_invoicing.sandbox.selftest import run_selftest

    directory = Path(directory_arg) if directory_arg is not None else None
    _check_imap(imap)
    if directory is not None and directory.exists() and not directory.is_dir():
        raise InputError(f"--dir {directory}: exists and is not a folder")
    with tempfile.TemporaryDirectory(prefix="wpec-selftest-") as tmp:
        sb = _start(directory or Path(tmp), imap)
        try:
            checks = run_selftest(sb)
        finally:
            sb.stop()
    failed = [c for c in checks if not c.ok]
    if json_out:
        output.dump_json({"ok": not failed, "imap": imap, "checks": [
            {"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks]})
    else:
        for c in checks:
            output.report(f"  {'ok  ' if c.ok else 'FAIL'} {c.name}"
                          + ("" if c.ok else f": {c.detail}"))
        output.report(f"selftest ({imap}): {len(checks) - len(failed)}/{len(checks)} passed")
    if failed:
        raise typer.Exit(1)


@sandbox_app.command("inject-invoice")
def inject_invoice(
    file_arg: Annotated[str, typer.Argument(
        metavar="FILE", help="Invoice file (.xml or .xml.p7m), named as SdI names it.")],
    to: Annotated[str, typer.Option("--to", metavar="ADDRESS",
                                    help="Recipient PEC box in the sandbox.")] =
    "azienda@pec.sandbox.test",
    name: Annotated[str | None, typer.Option(
        "--name", metavar="NAME", show_default=False,
        help="File name to deliver under (default: FILE's name).")] = None,
    directory_arg: DirOption = DEFAULT_DIR,
    json_out: JsonOpt = False,
) -> None:
    """Deliver a supplier's invoice via SdI to a sandbox box.

    SdI sends it as it does in production: a PEC with the file and its _MT_ metadata. Uses
    the sandbox running in --dir (wpec sandbox up), or starts it just for the delivery.
    Exit 0 when it arrived, 1 when the recipient's box did not take it (e.g. over quota:
    SdI then answers MC).
    """
    from wpec_invoicing.inputs import read_file
    from wpec_invoicing.sandbox import control

    file, directory = Path(file_arg), Path(directory_arg)

    try:
        data = read_file(file, max_bytes=50 * 1024 * 1024)
    except OSError as exc:
        raise InputError(f"{file}: cannot read ({exc.strerror})") from None
    file_name = name or file.name
    if not file_name.strip() or file_name in (".", "..") or any(c in file_name
                                                                for c in "/\\\x00"):
        raise InputError(f"--name {file_name!r}: a plain file name is needed (SdI names files "
                         "like IT01234567890_00001.xml), not a path")
    if directory.exists() and not directory.is_dir():
        raise InputError(f"--dir {directory}: exists and is not a folder")
    directory = directory.resolve()
    if control.running_state(directory) is not None:
        result = control.request_injection(directory, data, file_name, to)
    else:
        imap = "embedded"
        last = directory / "last-imap"
        if last.exists():
            imap = last.read_text(encoding="utf-8").strip() or "embedded"
        sb = _start(directory, imap)
        try:
            if sb.registry.get(to) is None:
                raise InputError(f"--to {to}: no such mailbox in the sandbox "
                                 f"({', '.join(sorted(sb.accounts))})")
            ident = sb.inject_invoice(data, file_name, to=to)
            outcome = sb.injection_outcome(ident)
            result = {"identificativo_sdi": ident, "to": to, "file_name": file_name,
                      "sdi_outcome": outcome.kind if outcome else None,
                      "delivered": bool(outcome and outcome.kind == "RC")}
        finally:
            sb.stop()
    if "error" in result:
        raise WpecError(f"inject-invoice {file}: {result['error']}")
    delivered = result.get("delivered", True)  # a sandbox started by an older wpec: unknown
    if json_out:
        output.dump_json(result)
    elif delivered:
        output.report(f"{file_name} delivered by SdI to {to} (IdentificativoSdI "
                      f"{result['identificativo_sdi']})")
    if not delivered:
        output.error(f"{file_name} NOT delivered to {to}: the recipient's box did not take it "
                     f"(over its quota, or unavailable); SdI answered "
                     f"{result.get('sdi_outcome') or 'nothing yet'} (IdentificativoSdI "
                     f"{result['identificativo_sdi']})")
        raise typer.Exit(output.EXIT_SOME_BAD)


@sandbox_app.command("make-invoices")
def make_invoices(
    out_arg: Annotated[str, typer.Option("--out", "-o", metavar="DIR",
                                         help="Folder to write the files into.")],
    count: Annotated[int, typer.Option("--count", metavar="N", min=1, max=10000,
                                       help="How many invoices to write.")] = 10,
    invalid_ratio: Annotated[float, typer.Option(
        metavar="RATIO", min=0.0, max=1.0,
        help="The share of invoices with a defect SdI or the product must catch (0 to 1).")
    ] = 0.0,
    seed: Annotated[int, typer.Option(
        metavar="N", help="Seed of the generator: the same seed writes the same files.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Generate realistic supplier invoices for the sandbox company.

    Valid ones, or (--invalid-ratio) ones with the defects SdI or the product must catch;
    named as SdI names them.
    """
    from wpec_invoicing.sandbox.invoices import generate_batch

    out = Path(out_arg)
    _ensure_folder(out, "--out")
    batch = generate_batch(count, seed=seed, invalid_ratio=invalid_ratio)
    records = []
    for inv in batch:
        try:
            (out / inv.file_name).write_bytes(inv.data)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write {inv.file_name}: "
                             f"{exc.strerror or exc}") from None
        records.append({"file": inv.file_name, "valid": inv.valid, "defect": inv.defect,
                        "supplier": inv.supplier})
    if json_out:
        output.dump_json(records)
    else:
        bad = sum(1 for r in records if not r["valid"])
        output.report(f"{len(records)} invoices written to {out} ({bad} with defects)")

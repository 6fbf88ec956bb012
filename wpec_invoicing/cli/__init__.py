"""`wpec`: the command line. Thin: parse arguments, call a service (or `app/`), print.

Registering a command module is ONE line in `COMMANDS` below:

    "trust": Entry("wpec_invoicing.cli.trust:app", "Trust lists, revocation, qualified signers."),

The key is the top-level name (`wpec trust ...`); the target is `module:attribute`, where the
attribute is a `typer.Typer` (a group: `wpec trust list`, `wpec trust update`...) or a plain
command function (`wpec serve`). The help is the line `wpec --help` shows: it is read from this
table, so `wpec --help` and `wpec --version` import nothing but typer (they stay well under
150 ms), and `wpec invoice validate` imports the invoice engine and not the database, crypto
or rendering stacks of the other commands. A group whose commands live in several modules
names the extra modules in `also` (each adds its commands to the group object when imported).

What every command follows (streams, `--json`, errors, exit codes) is in `cli/output.py`;
`main()` turns any exception that reaches it into one `wpec: error: ...` line (and, under
`--json`, a JSON error object on stdout) with the exit code of the table in `output.py`: a
user never sees a traceback (set WPEC_DEBUG=1 to get one).

May import: `app/`, the configuration and, for the formats commands, the formats; never
`store/` or SQLAlchemy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple


class Entry(NamedTuple):
    """One top-level command or group of `wpec`, loaded only when it is used."""

    target: str  # "package.module:attribute": a typer.Typer (group) or a command function
    help: str  # the one line of `wpec --help`
    also: tuple[str, ...] = ()  # further modules that add commands to the same group


_CLI = "wpec_invoicing.cli"
COMMANDS: dict[str, Entry] = {
    "invoice": Entry(f"{_CLI}.groups:invoice_app",
                     "Read, validate, write and follow FatturaPA invoice files.",
                     also=(f"{_CLI}.invoice", f"{_CLI}.outbox", f"{_CLI}.render")),
    "invoices": Entry(f"{_CLI}.groups:invoices_app",
                      "Invoices received (passive cycle) and their verification state.",
                      also=(f"{_CLI}.mailbox", f"{_CLI}.render", f"{_CLI}.browse")),
    "pec": Entry(f"{_CLI}.groups:pec_app",
                 "Inspect PEC messages: kind, certification data, signature, SdI payload.",
                 also=(f"{_CLI}.pec", f"{_CLI}.render")),
    "sandbox": Entry(f"{_CLI}.groups:sandbox_app",
                     "A local PEC provider and SdI, for trying and testing everything.",
                     also=(f"{_CLI}.sandbox", f"{_CLI}.sandbox_accounts")),
    "db": Entry(f"{_CLI}.groups:db_app", "The store: migrations.", also=(f"{_CLI}.mailbox",)),
    "outbox": Entry(f"{_CLI}.groups:outbox_app", "The persistent outbox: run it, see its state.",
                    also=(f"{_CLI}.outbox",)),
    "mail": Entry(f"{_CLI}.groups:mail_app",
                  "Mass PEC sending of documents other than invoices.", also=(f"{_CLI}.outbox",)),
    "messages": Entry(f"{_CLI}.groups:messages_app",
                      "Messages in the store: those whose processing failed, and retrying them.",
                      also=(f"{_CLI}.messages", f"{_CLI}.archive", f"{_CLI}.browse")),
    "sync": Entry(f"{_CLI}.mailbox:sync_command",
                  "Fetch new messages from the PEC box(es): archive, classify, apply rules."),
    "import": Entry(f"{_CLI}.mailbox:import_command",
                    "Import invoices (XML, p7m, zip, SdI pairs) and .eml messages."),
    "export": Entry(f"{_CLI}.mailbox:export_command",
                    "Hand received invoices to the configured exporters."),
    "send": Entry(f"{_CLI}.outbox:send_command",
                  "Send ready FatturaPA files to SdI (validated first; all or none queued)."),
    "demo": Entry(f"{_CLI}.outbox:demo_command",
                  "Run the whole job on a local sandbox: send, receive, follow everything."),
    "housekeep": Entry(f"{_CLI}.housekeep:housekeep",
                       "Free server space: delete archived messages past their retention."),
    "accounts": Entry(f"{_CLI}.accounts:accounts_app",
                      "The mailboxes' lifecycle: active, suspended, deactivated, purged."),
    "archive": Entry(f"{_CLI}.archive:archive_app",
                     "The archive of raw messages and invoice files: verify, export."),
    "worker": Entry(f"{_CLI}.worker:worker_command",
                    "Run a job-queue worker (PostgreSQL): sync, send, housekeep, export."),
    "jobs": Entry(f"{_CLI}.jobs:jobs_app",
                  "The job queue: queued, running, failed, stalled jobs; retry one."),
    "serve": Entry(f"{_CLI}.serve:serve_command",
                   "Serve the REST API (and the console) on 127.0.0.1."),
    "token": Entry(f"{_CLI}.groups:token_app",
                   "API tokens for `wpec serve`: create (shown once), list, revoke.",
                   also=(f"{_CLI}.tokens",)),
    "user": Entry(f"{_CLI}.groups:user_app",
                  "Console users: add, list, change password, disable, enable, role.",
                  also=(f"{_CLI}.users",)),
    "audit": Entry(f"{_CLI}.audit:audit_command", "The audit log: who changed what, when."),
    "events": Entry(f"{_CLI}.events:events_command",
                    "What happened, in order: events after an id (--follow to keep reading)."),
    "alerts": Entry(f"{_CLI}.browse:alerts_command", "Open alerts (--all: also the cleared)."),
    "trust": Entry(f"{_CLI}.trust:trust_app",
                   "Trusted certificates and lists: what signatures are checked against."),
}

# Commands that only read the files they are given (the formats' engines, no store, no
# ingestion), with the module that defines them: they run without the services wired by
# `startup.start()` (logging, the rule machinery), and their group loads that module only,
# not the group's other modules nor their commands (`wpec invoice validate` runs on folders
# of files: together ~20 ms of every start).
FORMATS_ONLY = {("invoice", "validate"): f"{_CLI}.invoice", ("invoice", "show"): f"{_CLI}.invoice",
                ("invoice", "attachments"): f"{_CLI}.invoice", ("pec", "inspect"): f"{_CLI}.pec"}
_only: list[str] = []  # the one module a formats-only command needs (set by `run`)

HELP = "wpec_invoicing: the company's PEC mailbox for Italian e-invoicing."
VERSION_HELP = "Print the version and exit."


def version_text() -> str:
    from wpec_invoicing import __version__

    return f"wpec {__version__}"


def top_help() -> str:
    """`wpec --help`, written from the table without importing typer (it is most of the cost).

    The same text click renders for the top-level group (a test holds the two together).
    """
    import shutil
    import textwrap

    width = max(min(shutil.get_terminal_size().columns, 80) - 2, 50)

    def dl(rows: list[tuple[str, str]]) -> list[str]:
        first = min(max(len(name) for name, _ in rows), 30) + 2
        text_width = max(width - first - 2, 10)
        out = []
        for name, text in rows:
            lines = textwrap.wrap(text, text_width) or [""]
            if len(name) + 2 > first:
                out.append(f"  {name}")
                out.extend(" " * (first + 2) + line for line in lines)
                continue
            out.append(f"  {name.ljust(first)}{lines[0]}".rstrip())
            out.extend(" " * (first + 2) + line for line in lines[1:])
        return out

    lines = ["Usage: wpec [OPTIONS] COMMAND [ARGS]...", ""]
    lines += textwrap.wrap(HELP, width, initial_indent="  ", subsequent_indent="  ")
    lines += ["", "Options:"]
    lines += dl([("--version", VERSION_HELP), ("--help", "Show this message and exit.")])
    lines += ["", "Commands:"]
    lines += dl([(name, entry.help) for name, entry in COMMANDS.items()])
    return "\n".join(lines)


def _load(name: str, entry: Entry) -> Any:
    """The click command for one entry of COMMANDS (imports its module now)."""
    import importlib

    import typer
    import typer.main

    module_name, _, attribute = entry.target.partition(":")
    for extra in _only or entry.also:
        importlib.import_module(extra)
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group, even with a single command
    else:
        single = typer.Typer(add_completion=False, rich_markup_mode=None)
        single.command(name, help=target.__doc__)(target)
        command = typer.main.get_command(single)
    command.name = name
    _tidy(command)
    return command


class _Text:
    """How a text parameter (`str`, `list[str]`) or a flag is taken: as it is. typer would
    build a pydantic adapter per parameter (importing pydantic: ~60 ms at every start) and run
    each value through it; the shell already gave us strings, click the flags' bools."""

    def __init__(self, many: bool) -> None:
        self.many = many

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if self.many else None
        if self.many:
            return [v if isinstance(v, str) else os.fsdecode(v) for v in value]
        return value if isinstance(value, str | bool) else os.fsdecode(value)


def _tidy(command: Any, *, recurse: bool = True) -> None:
    """Help in the convention's form, whatever typer's defaults: an argument shows its metavar
    (FILE, DIR, N...) and never a Python type beside it (`<list[str]>`), and the usage line
    writes arguments as `FILE...` / `[ID]...` (click's form), not `{FILE}...`. Text
    parameters and flags are taken as given (`_Text`)."""
    original = getattr(command, "get_help_option", None)
    if original is not None:  # --help is made per context, not kept in `params`

        def help_option(ctx: Any, original: Any = original) -> Any:
            option = original(ctx)
            if option is not None and getattr(option, "_runtime_param", False) is None:
                option._runtime_param = _Text(many=False)
            return option

        command.get_help_option = help_option
    for param in getattr(command, "params", ()):
        descriptor = getattr(param, "type_descriptor", None)
        annotation = getattr(descriptor, "annotation", None)
        if annotation is str or annotation == list[str]:
            param._runtime_param = _Text(many=annotation is not str)
        elif annotation is bool:  # a flag: click already gives a bool (or None)
            param._runtime_param = _Text(many=False)
        if getattr(param, "param_type_name", None) != "argument":
            continue
        param.display_type_rich = lambda ctx: None
        label = param.metavar or (param.name or "").upper()
        if not param.required:
            label = f"[{label}]"
        usage = label if param.nargs == 1 or label.endswith("...") else f"{label}..."
        param._usage_display_name = lambda usage=usage: usage
    if recurse:
        for sub in (getattr(command, "commands", None) or {}).values():
            _tidy(sub)


class _LazyCommands(Mapping[str, Any]):
    """The top-level commands as click sees them: the table's keys, each loaded on first use."""

    def __init__(self, eager: Mapping[str, Any]) -> None:
        self._loaded: dict[str, Any] = dict(eager)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = _load(name, COMMANDS[name])
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*COMMANDS, *(n for n in self._loaded if n not in COMMANDS)])

    def __len__(self) -> int:
        return len(list(iter(self)))


def _build_app() -> Any:
    """The top-level typer app: a lazy group with the `--version` option."""
    import typer
    from typer.core import TyperGroup

    class LazyGroup(TyperGroup):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.commands = _LazyCommands(self.commands)  # type: ignore[assignment]

        def list_commands(self, ctx: Any) -> list[str]:
            return list(self.commands)

        def format_commands(self, ctx: Any, formatter: Any) -> None:
            # From the table: listing the commands must not import them.
            rows = [(name, entry.help) for name, entry in COMMANDS.items()]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    application = typer.Typer(cls=LazyGroup, help=HELP, no_args_is_help=True,
                              add_completion=False, pretty_exceptions_enable=False,
                              rich_markup_mode=None)

    def show_version(value: bool) -> None:
        if value:
            print(version_text())
            raise typer.Exit(0)

    @application.callback()
    def _top(
        version: bool = typer.Option(False, "--version", is_eager=True,
                                     callback=show_version, help=VERSION_HELP),
    ) -> None:
        """wpec_invoicing: the company's PEC mailbox for Italian e-invoicing."""

    return application


_app: Any = None


def __getattr__(name: str) -> Any:
    # `app` is built on first use, so `wpec --version` does not even import typer.
    global _app
    if name == "app":
        if _app is None:
            _app = _build_app()
        return _app
    raise AttributeError(name)


def run(args: list[str]) -> int:
    """Run `wpec ARGS...` in this process and return the exit code (the convention's)."""
    from wpec_invoicing.cli import output

    if args == ["--version"]:  # the fast paths: the same answers the options give
        print(version_text())
        return output.EXIT_OK
    if args == ["--help"]:
        print(top_help())
        return output.EXIT_OK
    as_json = output.wants_json(args)
    only = FORMATS_ONLY.get(tuple(args[:2]))
    _only[:] = [only] if only else []
    if only is None:
        from wpec_invoicing.startup import start

        start()  # the services wired together (ingestion's observers, rule actions)
    try:
        import typer
        import typer.main
        from typer import _click  # typer's own click: its UsageError is what parsing raises

        command = typer.main.get_command(__getattr__("app"))
        _tidy(command, recurse=False)  # the top level's own options (its commands: on load)
        try:
            result = command.main(args, prog_name="wpec", standalone_mode=False)
        except _click.exceptions.NoArgsIsHelpError as exc:
            print(exc.format_message(), file=sys.stderr)
            return output.EXIT_USAGE
        except _click.exceptions.UsageError as exc:
            if exc.ctx is not None:
                print(exc.ctx.get_usage(), file=sys.stderr)
            message = exc.format_message()
            if exc.ctx is not None and exc.ctx.command.get_help_option(exc.ctx) is not None:
                message += f" (see `{exc.ctx.command_path} --help`)"
            return output.fail(message, output.EXIT_USAGE, as_json=as_json)
        except _click.exceptions.ClickException as exc:
            return output.fail(exc.format_message(), output.EXIT_USAGE, as_json=as_json)
        except typer.Abort:
            return output.fail("aborted", output.EXIT_SOME_BAD, as_json=as_json)
        return result if isinstance(result, int) else output.EXIT_OK
    except KeyboardInterrupt:
        print("wpec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `wpec ... | head`: the reader has all it wanted
        _quiet_stdout()
        return output.EXIT_OK
    except Exception as exc:
        from wpec_invoicing.errors import WpecError

        if isinstance(exc, WpecError):
            return output.fail(str(exc), exc.exit_code, as_json=as_json,
                               error_type=getattr(exc, "problem_type", None))
        if os.environ.get("WPEC_DEBUG"):
            raise
        # the last line of defence: one line, never a traceback
        return output.fail(f"internal error: {type(exc).__name__}: {exc}",
                           output.EXIT_TEMPORARY, as_json=as_json, error_type="internal")


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main() -> None:
    """Console entry point: our own process, so the collector is set for big runs
    (`collector`; not in `run`, which tests and tools call inside their own process)."""
    from wpec_invoicing.collector import tune_for_batch

    tune_for_batch()
    sys.exit(run(sys.argv[1:]))

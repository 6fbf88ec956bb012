"""How a `wpec sandbox` command finds a sandbox running in another process (`wpec sandbox up`).

Why files and not a socket: the sandbox folder is already the shared place (CA, secrets,
mail); a state file says which process runs it and where it listens, and a spool folder takes
requests (inject an invoice) that the running sandbox picks up and answers. Nothing to
authenticate beyond the folder's own permissions.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from wpec_invoicing.processes import pid_exists

STATE_FILE = "sandbox.json"
SPOOL_DIR = "spool"


def write_state(directory: Path, data: dict[str, Any]) -> None:
    path = directory / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({**data, "pid": os.getpid()}, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def clear_state(directory: Path) -> None:
    path = directory / STATE_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def running_state(directory: Path) -> dict[str, Any] | None:
    """The state of a live `wpec sandbox up` on `directory`, or None."""
    try:
        state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = state.get("pid")
    if not isinstance(pid, int) or not pid_exists(pid):
        return None
    return state


def request_injection(directory: Path, data: bytes, file_name: str, to: str,
                      timeout: float = 20.0) -> dict[str, Any]:
    """Ask the running sandbox to inject an invoice; wait for its answer."""
    spool = directory / SPOOL_DIR
    spool.mkdir(parents=True, exist_ok=True)
    key = uuid.uuid4().hex
    (spool / f"{key}.data").write_bytes(data)
    request = spool / f"{key}.json"
    tmp = request.with_name(request.name + ".tmp")
    tmp.write_text(json.dumps({"file_name": file_name, "to": to}), encoding="utf-8")
    os.replace(tmp, request)
    answer = spool / f"{key}.done"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer.exists():
            result = json.loads(answer.read_text(encoding="utf-8"))
            answer.unlink()
            return dict(result)
        time.sleep(0.1)
    return {"error": f"the running sandbox did not answer within {timeout:.0f} s"}


def serve_spool(directory: Path, sandbox: Any) -> int:
    """Handle pending requests (called periodically by `wpec sandbox up`). Returns how many."""
    spool = directory / SPOOL_DIR
    if not spool.is_dir():
        return 0
    handled = 0
    for request in sorted(spool.glob("*.json")):
        key = request.stem
        data_path = spool / f"{key}.data"
        try:
            spec = json.loads(request.read_text(encoding="utf-8"))
            data = data_path.read_bytes()
            if sandbox.registry.get(str(spec["to"])) is None:
                raise LookupError(f"--to {spec['to']}: no such mailbox in the sandbox "
                                  f"({', '.join(sorted(sandbox.accounts))})")
            ident = sandbox.inject_invoice(data, str(spec["file_name"]), to=str(spec["to"]))
            outcome = sandbox.injection_outcome(ident)
            result: dict[str, Any] = {"identificativo_sdi": ident, "to": spec["to"],
                                      "file_name": spec["file_name"],
                                      "sdi_outcome": outcome.kind if outcome else None,
                                      "delivered": bool(outcome and outcome.kind == "RC")}
        except LookupError as exc:
            result = {"error": str(exc).strip("'\"")}
        except Exception as exc:  # one bad request must not stop the sandbox
            result = {"error": f"{type(exc).__name__}: {exc}"}
        for path in (request, data_path):
            path.unlink(missing_ok=True)
        (spool / f"{key}.done").write_text(json.dumps(result), encoding="utf-8")
        handled += 1
    return handled

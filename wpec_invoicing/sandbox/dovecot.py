"""A throwaway Dovecot instance: its own config in a folder, loopback ports, TLS, given users.

Why: the product must be proven against a real, widely deployed IMAP server, not only against
the embedded one. Debian's `dovecot-imapd` is enough: we write a complete `dovecot.conf` (no
include of the system config), run `dovecot -F -c CONF` as a child process and stop it with
SIGTERM. Users live in a passwd-file next to the config; mail is Maildir under the folder;
per-user quotas use Dovecot's quota plugin, so IMAP QUOTA and over-quota APPEND refusals are
the real server's.

Usable alone (tests of other areas start one with a few users)::

    with DovecotServer(tmp, {"alice@x.test": "pw"}, cert_file=..., key_file=...) as dc:
        IMAPClient("127.0.0.1", port=dc.imaps_port, ssl_context=...)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DOVECOT_BINARY_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


class DovecotError(RuntimeError):
    """Dovecot is missing, refused its configuration, or did not come up."""


def find_dovecot() -> str | None:
    """Path of the dovecot binary, or None when it is not installed."""
    for candidate in DOVECOT_BINARY_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("dovecot")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now on `host` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, *, proc: subprocess.Popen | None = None
                  ) -> bool:
    """Poll until a TCP connect to host:port succeeds (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


@dataclass(frozen=True)
class DovecotUser:
    """One mailbox: login name (the PEC address), password, optional quota in bytes."""

    name: str
    password: str
    quota_bytes: int | None = None


def _check_field(value: str, what: str) -> str:
    # The passwd-file format is colon separated, one user a line: refuse what would break it.
    if any(ch in value for ch in ":\n\r\0"):
        raise DovecotError(f"{what} {value!r} contains a character a passwd-file cannot hold")
    return value


class DovecotServer:
    """Controller of one Dovecot child process (context manager).

    Attributes after `start()`: `host`, `imap_port` (plain port, STARTTLS only: `ssl =
    required` refuses logins before TLS), `imaps_port` (implicit TLS), `directory`, `log_path`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        users: Mapping[str, str] | list[DovecotUser],
        *,
        cert_file: str | os.PathLike[str],
        key_file: str | os.PathLike[str],
        host: str = "127.0.0.1",
        imap_port: int | None = None,
        imaps_port: int | None = None,
        binary: str | None = None,
        quota: bool = True,
        storage: str = "maildir",
        mail_fsync: str = "never",
    ) -> None:
        self.directory = Path(directory).resolve()
        if isinstance(users, Mapping):
            self._users = [DovecotUser(n, p) for n, p in users.items()]
        else:
            self._users = list(users)
        self.cert_file = Path(cert_file).resolve()
        self.key_file = Path(key_file).resolve()
        self.host = host
        self.imap_port = imap_port or 0
        self.imaps_port = imaps_port or 0
        self.binary = binary or find_dovecot()
        self.quota = quota
        # `storage`: "maildir" (one file per message; the tests' default) or "mdbox" (a
        # provider's choice at scale: expunge only drops references, `doveadm purge` reclaims
        # the space later). `mail_fsync`: Dovecot's own setting ("never" for throwaway test
        # servers, "optimized" is Dovecot's default for real ones).
        if storage not in ("maildir", "mdbox", "sdbox"):
            raise DovecotError(f"unsupported mail storage {storage!r}")
        if mail_fsync not in ("never", "optimized", "always"):
            raise DovecotError(f"unsupported mail_fsync {mail_fsync!r}")
        self.storage = storage
        self.mail_fsync = mail_fsync
        self._proc: subprocess.Popen[bytes] | None = None

    # -- paths -------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.directory / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "dovecot.log"

    @property
    def users_path(self) -> Path:
        return self.directory / "users"

    def mail_dir(self, user: str) -> Path:
        """Home of `user` (its Maildir is `Maildir/` below it)."""
        return self.directory / "mail" / user

    # -- configuration -----------------------------------------------------------------------
    def _user_file(self, name: str) -> Path:
        return self.users_path / name.lower()

    def _write_users(self, only: str | None = None) -> None:
        """One passwd-file per user (`users/<login>`): Dovecot checks a passwd-file for
        changes at most once a second, but a file it has never opened is read at once, so a
        user added while running can log in immediately."""
        uid, gid = self._mail_ids()
        self.users_path.mkdir(parents=True, exist_ok=True)
        for user in self._users:
            if only is not None and user.name != only:
                continue
            _check_field(user.name, "user name")
            _check_field(user.password, "password of " + user.name)
            if "/" in user.name or user.name.startswith("."):
                raise DovecotError(f"user name {user.name!r} cannot be a file name")
            home = self.mail_dir(user.name)
            if not home.exists():
                home.mkdir(parents=True)
                if os.getuid() == 0:
                    os.chown(home, uid, gid)
            extra = ""
            if user.quota_bytes is not None and self.quota:
                extra = f"userdb_quota_rule=*:bytes={int(user.quota_bytes)}"
            # name:password:uid:gid:gecos:home:shell:extra_fields
            line = f"{user.name}:{{PLAIN}}{user.password}::::::{extra}\n"
            path = self._user_file(user.name)
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(line)
            os.replace(tmp, path)

    def _config_text(self) -> str:
        d = self.directory
        mail_uid, mail_gid = self._mail_ids()
        if os.getuid() == 0:
            login_user, internal_user = "dovenull", "dovecot"
            # Dovecot never lets IMAP processes run as root: mail is owned by an unprivileged
            # user, and the processes chroot into the mail folder (done while still root), so
            # the sandbox folder's parents may stay private (mode 0700, as pytest makes them).
            chroot = f"mail_chroot = {d}/mail\n"
            home = "/%u"
        else:
            import pwd

            login_user = internal_user = pwd.getpwuid(os.getuid()).pw_name
            chroot = ""
            home = f"{d}/mail/%u"
        quota_plugins = "quota" if self.quota else ""
        imap_plugins = "$mail_plugins imap_quota" if self.quota else "$mail_plugins"
        # Maildir++ quota works only with maildir; the dbox formats use the `count` backend
        # (Dovecot's recommendation for new installations: usage kept in the indexes).
        backend = ("maildir:User quota" if self.storage == "maildir"
                   else "count:User quota\n  quota_vsizes = yes")
        quota_block = (
            f"plugin {{\n  quota = {backend}\n  quota_rule = *:storage=0\n}}\n"
            if self.quota else ""
        )
        location = ("maildir:~/Maildir" if self.storage == "maildir"
                    else f"{self.storage}:~/{self.storage}")
        return f"""# Written by wpec_invoicing.sandbox.dovecot: complete, no system include.
base_dir = {d}/run
state_dir = {d}/state
instance_name = wpec-sandbox-{os.getpid()}-{id(self):x}
log_path = {self.log_path}
info_log_path = {self.log_path}
protocols = imap
listen = {self.host}
shutdown_clients = yes
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 0
first_valid_gid = 0
mail_uid = {mail_uid}
mail_gid = {mail_gid}
{chroot}mail_location = {location}
mail_fsync = {self.mail_fsync}
ssl = required
ssl_cert = <{self.cert_file}
ssl_key = <{self.key_file}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
auth_cache_size = 0
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
mail_plugins = $mail_plugins {quota_plugins}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {self.users_path}/%Lu
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {self.users_path}/%Lu
  default_fields = home={home}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
protocol imap {{
  mail_plugins = {imap_plugins}
  mail_max_userip_connections = 100
}}
{quota_block}service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.imaps_port}
    ssl = yes
  }}
  process_min_avail = 0
  service_count = 0
}}
service auth {{
  user = root
}}
service auth-worker {{
  user = root
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
service anvil {{
  chroot =
}}
"""

    @staticmethod
    def _mail_ids() -> tuple[int, int]:
        if os.getuid() != 0:
            return os.getuid(), os.getgid()
        import pwd

        entry = pwd.getpwnam("dovecot")
        return entry.pw_uid, entry.pw_gid

    # -- life cycle --------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> DovecotServer:
        """Write the config, start Dovecot in the foreground as a child, wait for both ports."""
        if self.binary is None:
            raise DovecotError("dovecot is not installed (looked for /usr/sbin/dovecot)")
        if self._proc is not None:
            return self
        for sub in ("run", "state", "mail"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory / "run", 0o755)  # noqa: S103 (login processes must reach it)
        uid, gid = self._mail_ids()
        if os.getuid() == 0:
            os.chown(self.directory / "mail", uid, gid)
        # Ports: picked now when not given; a race with another process is possible but rare,
        # and start() reports it clearly (Dovecot logs "Address already in use").
        if not self.imap_port:
            self.imap_port = free_port(self.host)
        if not self.imaps_port:
            self.imaps_port = free_port(self.host)
        self._write_users()
        self.config_path.write_text(self._config_text(), encoding="utf-8")
        self.log_path.touch()
        self._proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory / "dovecot.stderr", "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        ok = wait_for_port(self.host, self.imaps_port, timeout, proc=self._proc) and \
            wait_for_port(self.host, self.imap_port, timeout, proc=self._proc)
        if not ok:
            detail = self._failure_detail()
            self.stop()
            raise DovecotError(f"dovecot did not start ({self.config_path}): {detail}")
        return self

    def _failure_detail(self) -> str:
        texts = []
        for path in (self.directory / "dovecot.stderr", self.log_path):
            try:
                text = path.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                continue
            if text:
                texts.append(text.splitlines()[-1])
        return " | ".join(texts) or "no output"

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the master (it stops its children), SIGKILL the group if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- users -------------------------------------------------------------------------------
    @property
    def users(self) -> dict[str, str]:
        """Login name → password."""
        return {u.name: u.password for u in self._users}

    def add_user(self, name: str, password: str, quota_bytes: int | None = None) -> None:
        """Add (or replace) a user; takes effect at once (passwd-file is re-read, no cache)."""
        self._users = [u for u in self._users if u.name != name]
        self._users.append(DovecotUser(name, password, quota_bytes))
        if self.directory.exists():
            self._write_users(only=name)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

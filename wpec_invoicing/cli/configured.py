"""Loading the configuration for a command, and saying so when a command needs one.

Two kinds of commands: those that work on the defaults (`invoice`, `pec`, `import`,
`invoices`, `messages`, `db upgrade`: data in ./wpec-data) and those that need a configuration
file (accounts, exporters: `sync`, `send`, `outbox`, `mail`, `export`, `invoice create` and
`history`). The second kind, with no file, says which file it looked for and how to give one,
exits 2, and creates nothing (no ./wpec-data, no empty database).
"""

from __future__ import annotations

from typing import Any

from wpec_invoicing.errors import ConfigError


def load(path: str | None) -> Any:  # -> Config
    from wpec_invoicing.config import load_config

    return load_config(path)


def require(path: str | None, command: str) -> Any:  # -> Config
    """The configuration, or a ConfigError saying `command` needs one and where it looked."""
    from wpec_invoicing.config import CONFIG_ENV

    config = load(path)
    if config.source is None:
        where = " or ".join(config.searched) or "./wpec.toml"
        raise ConfigError(f"`wpec {command}` needs a configuration: no configuration file "
                          f"found (looked for {where}); give --config FILE or set "
                          f"${CONFIG_ENV} (`wpec sandbox up` writes one to try things with)")
    return config

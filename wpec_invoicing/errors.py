"""Exceptions that mean "the program cannot go on", each turned into one clear CLI line.

Verdicts about input (an invalid invoice, a tampered signature) are values, not exceptions:
the caller decides. These are for the cases where there is nothing left to decide.
"""


class WpecError(Exception):
    """A failure the user can act on; the message says what, where and why."""

    exit_code = 2


class ConfigError(WpecError):
    """The configuration is missing or wrong (which file, which key, what is wrong)."""

    exit_code = 2


class InputError(WpecError):
    """An input file or argument cannot be used at all."""

    exit_code = 2

"""Errors a user can act on: each carries one readable line per problem, no traceback needed."""

from __future__ import annotations


class MpulseError(Exception):
    """Base for problems in the user's config, files or sources (as opposed to bugs)."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ConfigError(MpulseError):
    """The YAML config is missing, unparsable or invalid."""


class InputError(MpulseError):
    """An input file or API payload breaks the input contract (file, row and column are named)."""


class SourceError(MpulseError):
    """An external system (ad platform, CRM) failed in a way retries did not fix."""

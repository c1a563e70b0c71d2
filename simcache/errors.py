"""One error type for everything a user can get wrong: it carries the list of problems,
each already one line (`file:line: field: message`, `--flag: message`)."""

from __future__ import annotations

__all__ = ["SimcacheError"]


class SimcacheError(Exception):
    """Bad input. `problems` holds one formatted line per problem; the CLI prints each and
    exits with status 2."""

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

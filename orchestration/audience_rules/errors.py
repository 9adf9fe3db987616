"""The one error type of the rule compiler: always names the file and the key."""

from __future__ import annotations


class RuleError(ValueError):
    """A rule file is invalid or hostile. str() reads `<file>: <key>: <why>`."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(f"{file}: {key}: {message}")

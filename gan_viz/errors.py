"""User-facing errors.

Anything the user can fix (a bad path, a wrong option, a file of another architecture)
raises :class:`UserError` with one line that says what is wrong and what to do.
The CLI prints that line to stderr and exits with status 2, without a traceback.
"""


class UserError(Exception):
    """A problem with the user's input; the message is shown as is (one line)."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))

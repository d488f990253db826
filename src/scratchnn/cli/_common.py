"""What every sub-command shares."""


class UsageError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit code 2."""

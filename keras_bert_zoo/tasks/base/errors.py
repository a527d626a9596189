"""The typed error of bad task input."""

__all__ = ["TaskError"]


class TaskError(ValueError):
    """Bad task input: an unknown label or option, mismatched inputs, a malformed file."""

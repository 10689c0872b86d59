"""The two ways loading a data set can fail, each with a message that says how to fix it."""

from __future__ import annotations

__all__ = ["DatasetNotFoundError", "DatasetFormatError"]


class DatasetNotFoundError(FileNotFoundError):
    """The files of a data set are not where the loader looked.

    The message names the absolute folder searched and how to obtain the data.
    """


class DatasetFormatError(ValueError):
    """The files exist but do not hold what the data set's format promises.

    Raised for empty class folders, corrupt or wrongly sized images, malformed pickles and
    inconsistent labels; the message names the offending file.
    """

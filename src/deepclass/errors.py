"""User-facing error types.

Everything a user can get wrong (an argument, a file, a checksum) raises one of
these with a message naming the argument or file and what was expected. The
CLI turns them into a one-line message and exit status 2; library users can
catch them as the built-in type they extend (``ValueError`` or
``FileNotFoundError``).
"""

from __future__ import annotations


class DeepclassError(Exception):
    """Base class of every error deepclass raises on purpose."""


class ConfigError(DeepclassError, ValueError):
    """A bad argument or option: an unknown name, a value out of range."""


class DataError(DeepclassError, ValueError):
    """A data file is corrupt, truncated, of the wrong format or layout."""


class ChecksumError(DataError):
    """A file's checksum does not match the published one."""


class UnsafeFileError(DataError):
    """A file tries something unsafe: a pickle that imports code, a tar member escaping its target."""


class MissingDataError(DeepclassError, FileNotFoundError):
    """A data set is not where deepclass looks and could not be downloaded."""


class CheckpointError(DeepclassError, ValueError):
    """A checkpoint is corrupt, truncated, foreign or for another model."""

"""Downloads on a machine without internet: one clear line, at once.

MOABB, pooch and nilearn retry a failed download for tens of seconds and
then print a long traceback. :func:`no_internet_guard` stops their download
code at the first host name that cannot be resolved and raises one
:class:`~brainpipe._check.BrainpipeInputError` saying what was fetched, what
it tried and where a copy downloaded elsewhere can be put.
"""

from __future__ import annotations

import contextlib
import socket

from .._check import BrainpipeInputError

__all__ = ["no_internet_guard"]


class _Offline(BaseException):
    """Raised inside the download code at the first failed name lookup.

    A BaseException on purpose: the downloaders' retry loops catch
    Exception, so this one leaves them at once instead of retrying.
    """


@contextlib.contextmanager
def no_internet_guard(what, hint):
    """Turn a download that fails for want of internet into one clear error.

    Files already on disk are read as usual (the downloaders look there
    first); only a download that cannot reach its host stops.

    Parameters
    ----------
    what : str
        What is being fetched, e.g. ``"MOABB dataset BNCI2014_001 subject 1"``.
    hint : str
        What the user can do, e.g. where a pre-downloaded copy goes.

    Raises
    ------
    BrainpipeInputError
        ``"<what>: could not download (tried <host>: no internet here?); <hint>"``.
    """
    real = socket.getaddrinfo
    tried = []

    def getaddrinfo(host, *args, **kwargs):
        try:
            return real(host, *args, **kwargs)
        except socket.gaierror as err:
            tried.append(str(host))
            raise _Offline(host) from err

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    except _Offline:
        pass
    except OSError as err:
        # requests/urllib3 wrap refused or timed-out connections in OSError subclasses
        kind = type(err).__name__.lower()
        if "connect" not in kind and "timeout" not in kind:
            raise
        tried.append(str(err).split("(Caused by")[0].strip()[:160])
    else:
        return
    finally:
        socket.getaddrinfo = real
    raise BrainpipeInputError(f"{what}: could not download (tried {tried[0]}: no internet here?); {hint}")

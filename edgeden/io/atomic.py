"""Atomic file writes: every image writer in ``edgeden.io`` goes through here.

A writer produces its bytes in a temporary file *in the destination folder* (so the final
``os.replace`` is a same-filesystem rename), fsyncs it, then renames it over the target. A
crash or an exception therefore never leaves a half-written output under the real name.

Temporary names start with ``'.'`` and end with ``'.tmp'`` (``.<name>.<8 hex digits>.tmp``),
so a resumable batch run can skip them when listing inputs and remove leftovers of a killed run
with :func:`find_stale_temps` / :func:`remove_stale_temps`. Only names of exactly that shape
are ever taken for ours: a user's ``x.tmp`` or ``.notes.tmp`` is never touched.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

#: Prefix and suffix of every temporary file made by :func:`atomic_path`.
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
#: ``.<name>.<8 lower-case hex digits>.tmp``, the exact shape :func:`atomic_path` makes.
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.tmp$", re.DOTALL)


def is_atomic_temp(path: str | os.PathLike) -> bool:
    """True if ``path`` looks like a temporary file left by :func:`atomic_path`.

    Args:
        path: any file path.
    Returns:
        bool -- the name is ``.<name>.<8 hex digits>.tmp`` (leading ``'.'``, the random middle
        part of exactly 8 lower-case hex digits, ``'.tmp'``).
    """
    return _TEMP_RE.match(Path(path).name) is not None


def temp_name(name: str) -> str:
    """A fresh temporary file name for destination file name ``name`` (the shape
    :func:`is_atomic_temp` recognises)."""
    return f"{TEMP_PREFIX}{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def find_stale_temps(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """List leftover temporary files of :func:`atomic_path` in ``folder``.

    A resumable run may delete them before starting (they are never valid outputs).

    Args:
        folder: a directory.
        recursive: also look in sub-folders (symbolic links to folders are not followed).
    Returns:
        sorted list of paths of regular files (not symbolic links) for which
        :func:`is_atomic_temp` is true.
    """
    d = Path(folder)
    if not d.is_dir():
        return []
    found: list[Path] = []
    if recursive:
        for root, _dirs, names in os.walk(d, followlinks=False):
            found += [Path(root) / n for n in names if is_atomic_temp(n)]
    else:
        with contextlib.suppress(OSError):
            found = [d / e.name for e in os.scandir(d) if is_atomic_temp(e.name)]
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def remove_stale_temps(folders, recursive: bool = False, keep=None) -> list[Path]:
    """Delete the :func:`find_stale_temps` of each folder in ``folders`` except those for which
    ``keep(path)`` is true; return those removed (a file that cannot be removed is left alone
    and not listed)."""
    removed: list[Path] = []
    for folder in folders:
        for p in find_stale_temps(folder, recursive=recursive):
            if keep is not None and keep(p):
                continue
            try:
                p.unlink()
            except FileNotFoundError:
                continue
            except OSError:
                continue
            removed.append(p)
    return removed


def _fsync_dir(folder: Path) -> None:
    """Best-effort fsync of a directory so the rename itself is durable (POSIX only)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Context manager giving a temporary path to write; renamed over ``path`` on success.

    The temporary file ``<folder>/.<name>.<random>.tmp`` is created empty (mode 0o666 minus
    the umask, like a normal file). Write it completely inside the ``with`` block (any
    library may reopen it by name). On normal exit it is fsynced and atomically moved to
    ``path`` with ``os.replace``; on an exception it is deleted and the exception propagates,
    leaving any existing ``path`` untouched.

    Args:
        path: final destination; its folder must exist.
    Yields:
        pathlib.Path of the temporary file (same folder as ``path``).

    Example:
        >>> with atomic_path("out.png") as tmp:          # doctest: +SKIP
        ...     Image.fromarray(a).save(tmp, format="PNG")
    """
    dest = Path(path)
    folder = dest.parent
    tmp = folder / temp_name(dest.name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def atomic_write(path: str | os.PathLike, write_fn: Callable[[Path], object]) -> Path:
    """Call ``write_fn(tmp_path)`` and atomically move the result to ``path``.

    Args:
        path: final destination; its folder must exist.
        write_fn: callable that writes the whole file at the given temporary path (it may
            open it by name, truncating the empty placeholder). Its return value is ignored.
    Returns:
        pathlib.Path of the final file.
    Raises:
        whatever ``write_fn`` raises; the temporary file is removed first.
    """
    with atomic_path(path) as tmp:
        write_fn(tmp)
    return Path(path)

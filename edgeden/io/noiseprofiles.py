"""Camera noise-profile files: darktable's ``noiseprofiles.json`` (GPL-3, never shipped; a
user's copy is read). The file is untrusted input: only a regular file of at most
:data:`MAX_PROFILE_BYTES` is read, its JSON is parsed with a nesting limit and every profile
is checked (ISO > 0; ``a`` and ``b`` three numbers each; a profile with a value that is not
finite or outside [-1, 1] is dropped -- darktable's own fits have slightly negative values, so
the (S, O) they give are validated where noise parameters are used); any problem is one
:class:`~edgeden.core.types.EdgedenError` line naming the file.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from edgeden.core.camera_profiles import CameraNoiseProfile
from edgeden.core.types import EdgedenError

#: Largest profile file read (darktable's own is about 1 MB).
MAX_PROFILE_BYTES = 32 << 20
#: Largest ``|a|`` or ``|b|`` accepted (darktable's are below 1e-2 on the [0, 1] scale).
MAX_PROFILE_VALUE = 1.0


def default_profile_paths() -> list[Path]:
    """Where a darktable ``noiseprofiles.json`` may be found, in order of preference.

    First the paths in the environment variable ``EDGEDEN_NOISEPROFILES``
    (``os.pathsep``-separated), then darktable's usual install locations (Linux packages,
    /usr/local, Flatpak, Homebrew, macOS app bundle, Windows). Existence is not checked.
    """
    out: list[Path] = []
    env = os.environ.get("EDGEDEN_NOISEPROFILES", "")
    out += [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    out += [
        Path("/usr/share/darktable/noiseprofiles.json"),
        Path("/usr/local/share/darktable/noiseprofiles.json"),
        Path("/app/share/darktable/noiseprofiles.json"),
        Path("/var/lib/flatpak/app/org.darktable.Darktable/current/active/files/share/darktable/noiseprofiles.json"),
        Path("~/.local/share/flatpak/app/org.darktable.Darktable/current/active/files/share/darktable/noiseprofiles.json").expanduser(),
        Path("/opt/homebrew/share/darktable/noiseprofiles.json"),
        Path("/Applications/darktable.app/Contents/Resources/share/darktable/noiseprofiles.json"),
    ]
    if sys.platform.startswith("win"):
        pf = os.environ.get("ProgramFiles", r"C:\Program Files")
        out.append(Path(pf) / "darktable" / "share" / "darktable" / "noiseprofiles.json")
    return out


def read_limited(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes (checked on the
    open file, so a FIFO or device is refused without blocking or reading it).
    Raises EdgedenError naming the file otherwise."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise EdgedenError(f"{p}: cannot read {what} ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        import stat

        if not stat.S_ISREG(st.st_mode):
            raise EdgedenError(f"{p}: {what} must be a regular file")
        if st.st_size > limit:
            raise EdgedenError(f"{p}: {what} is {st.st_size} bytes, larger than the {limit}-byte limit")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise EdgedenError(f"{p}: {what} is larger than the {limit}-byte limit")
        return data
    finally:
        os.close(fd)


def _triple(v, key: str) -> tuple[float, float, float] | None:
    """Three numbers, or None when one is not finite or outside [-1, 1] (that profile is
    dropped); ValueError when ``v`` is not a list of three numbers."""
    if not isinstance(v, list) or len(v) != 3:
        raise ValueError(f"{key} must be a list of 3 numbers")
    out = []
    for t in v:
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise ValueError(f"{key} must be a list of 3 numbers")
        t = float(t)
        if not (math.isfinite(t) and abs(t) <= MAX_PROFILE_VALUE):
            return None
        out.append(t)
    return out[0], out[1], out[2]


def parse_camera_profiles(data: bytes, where: str = "noise profiles") -> list[CameraNoiseProfile]:
    """Profiles of a darktable ``noiseprofiles.json`` held in ``data`` (format:
    ``{"noiseprofiles": [{"maker", "models": [{"model", "profiles": [{"name", "iso", "a": [3],
    "b": [3]}]}]}]}``); those marked ``"skip": true`` are dropped. Raises EdgedenError with one
    line naming ``where`` and the first problem."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise EdgedenError(f"{where}: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise EdgedenError(f"{where}: not valid JSON ({str(e).splitlines()[0]})") from None
    out: list[CameraNoiseProfile] = []
    try:
        if not isinstance(doc, dict) or not isinstance(doc.get("noiseprofiles"), list):
            raise ValueError('expected an object with a "noiseprofiles" list')
        for mk in doc["noiseprofiles"]:
            if not isinstance(mk, dict) or not isinstance(mk.get("models"), list):
                raise ValueError('each maker needs a "models" list')
            for mo in mk["models"]:
                if not isinstance(mo, dict) or not isinstance(mo.get("profiles"), list):
                    raise ValueError('each model needs a "profiles" list')
                for p in mo["profiles"]:
                    if not isinstance(p, dict):
                        raise ValueError("each profile must be an object")
                    if p.get("skip"):
                        continue
                    iso = p.get("iso")
                    if isinstance(iso, bool) or not isinstance(iso, (int, float)) or not (0 < float(iso) < 1e7):
                        raise ValueError(f"profile ISO {iso!r} is not a number in (0, 1e7)")
                    a, b = _triple(p.get("a"), "a"), _triple(p.get("b"), "b")
                    if a is None or b is None:  # absurd values: this profile is not used
                        continue
                    out.append(CameraNoiseProfile(
                        maker=str(mk.get("maker", "")), model=str(mo.get("model", "")), iso=float(iso),
                        a=a, b=b, name=str(p.get("name", ""))))
    except ValueError as e:
        raise EdgedenError(f"{where}: not a darktable noiseprofiles.json ({e})") from None
    return out


def load_camera_profiles(path: str | os.PathLike) -> list[CameraNoiseProfile]:
    """Read and validate a darktable ``noiseprofiles.json`` (see :func:`parse_camera_profiles`).
    Raises EdgedenError (one line naming the file) on any problem."""
    return parse_camera_profiles(read_limited(path, MAX_PROFILE_BYTES, "noise profile file"), str(path))


def find_camera_profiles(path: str | os.PathLike | None = None) -> list[CameraNoiseProfile] | None:
    """The profiles of ``path`` (given by the user: errors raise), else of the first existing
    default location (:func:`default_profile_paths`), else None."""
    if path:
        return load_camera_profiles(path)
    for c in default_profile_paths():
        if c.is_file():
            return load_camera_profiles(c)
    return None

"""What a saved file is, checked before any torch loader touches it.

``torch.export.load`` reads some payloads with ``pickle`` (``torch.load(weights_only=False)``
for pickled tensors and sample inputs, plain ``pickle.loads`` for opaque constants); a crafted
``.pt2`` could run code there. So :func:`inspect` opens the zip itself, recognises the
format, and proves every pickle the loader would read loads with ``torch.load(...,
weights_only=True)`` (which resolves only tensor types); anything else is refused with
:class:`SerializationError` naming the file and the entry. TorchScript archives are read by
TorchScript's own unpickler, which resolves no Python globals.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
import zlib
from typing import IO

import torch

from torch_trt.errors import SerializationError

EXTRA = "extra/"


@dataclasses.dataclass
class Archive:
    """A recognised artifact: its kind and the torch-trt files it carries."""

    path: str
    kind: str  # "exported_program" or "torchscript"
    files: dict[str, bytes]  # torch-trt's extra files by name (manifest, sources)


_TRUNCATED = (
    "it is truncated or corrupt: its zip directory is missing or does not end the file (was a "
    "copy or download cut short?); save it again"
)
_EOCD = b"PK\x05\x06"  # signature of the zip's end-of-central-directory record (22 bytes)


def _ends_whole(f: IO[bytes]) -> bool:
    """True when the last end-of-directory record in the file's tail ends the file exactly.

    zipfile accepts any such record in the last 64 KiB, and a saved program carries whole zip
    archives inside it (region sources, reference programs): a file cut short can end just past
    one of theirs, and zipfile would then read the inner archive as if it were the file.
    """
    size = f.seek(0, os.SEEK_END)
    tail_start = max(size - (22 + 0xFFFF), 0)
    f.seek(tail_start)
    tail = f.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return False
    comment = int.from_bytes(tail[at + 20 : at + 22], "little")
    return at + 22 + comment == len(tail)


def _refuse(path: str, what: str) -> SerializationError:
    return SerializationError(f"cannot load {path}: {what}")


def _not_zip(path: str) -> SerializationError:
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        what = "the file is empty"
    elif head[:1] == b"\x80":
        what = (
            "it is a raw pickle, which torch-trt never loads (unpickling can run arbitrary "
            "code); save the program with torch_trt.save"
        )
    elif head[:2] == b"PK":
        what = _TRUNCATED
    else:
        what = "it is not a zip archive (neither an ExportedProgram .pt2 nor a TorchScript file)"
    return _refuse(path, what)


def _check_pickle(path: str, z: zipfile.ZipFile, name: str) -> None:
    try:
        torch.load(io.BytesIO(z.read(name)), weights_only=True)
    except Exception as e:
        raise _refuse(
            path,
            f"entry {name!r} is a pickle that does not load with torch.load(weights_only=True) "
            f"({type(e).__name__}); torch-trt refuses it rather than run code from the file",
        ) from None


def _check_payloads(path: str, z: zipfile.ZipFile, prefix: str) -> None:
    """Every payload torch.export.load would unpickle must be a plain tensor pickle."""
    names = z.namelist()
    for name in names:
        rel = name[len(prefix) :]
        if rel.startswith("data/sample_inputs/"):
            _check_pickle(path, z, name)
        elif rel.startswith(("data/weights/", "data/constants/")) and rel.endswith(".pt"):
            raise _refuse(path, f"entry {name!r} uses the legacy pickled payload format")
        elif rel.endswith("_config.json") and rel.startswith("data/"):
            try:
                config = json.loads(z.read(name))["config"]
            except (ValueError, KeyError, TypeError):
                raise _refuse(path, f"entry {name!r} is not a payload config") from None
            folder = os.path.dirname(name)
            for fqn, meta in config.items():
                file = str(meta.get("path_name", ""))
                if file.startswith(("custom_obj", "opaque")):
                    raise _refuse(
                        path, f"constant {fqn!r} is a pickled Python object ({file}), not a tensor"
                    )
                if meta.get("use_pickle"):
                    _check_pickle(path, z, f"{folder}/{file}")


def _kind(path: str, z: zipfile.ZipFile, names: list[str]) -> tuple[str, str]:
    prefix = names[0].split("/", 1)[0] + "/" if names else ""
    if f"{prefix}archive_format" in names:
        if z.read(f"{prefix}archive_format").strip() != b"pt2":
            raise _refuse(path, "it is a PT2 archive of another kind (not an ExportedProgram)")
        return "exported_program", prefix
    if f"{prefix}data.pkl" in names and any(n.startswith(f"{prefix}code/") for n in names):
        return "torchscript", prefix
    if f"{prefix}data.pkl" in names:
        raise _refuse(
            path,
            "it looks like a torch.save file (pickled Python objects), which torch-trt never "
            "loads; save compiled programs with torch_trt.save",
        )
    raise _refuse(path, "the zip archive is neither an ExportedProgram .pt2 nor TorchScript")


def inspect(path: str | os.PathLike[str]) -> Archive:
    """Recognise and vet the file at ``path``.

    Raises:
        FileNotFoundError: no such file.
        SerializationError: empty, truncated, corrupt, foreign or unsafe file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no saved program at {path}")
    if not zipfile.is_zipfile(path):
        raise _not_zip(path)
    with open(path, "rb") as f:
        return _vet(path, f)


def vet_program(data: bytes, label: str) -> None:
    """Vet an ExportedProgram held in memory (a region source) as :func:`inspect` vets a file;
    ``label`` names it in messages."""
    art = _vet(label, io.BytesIO(data))
    if art.kind != "exported_program":
        raise _refuse(label, "it is not an ExportedProgram")


def _vet(path: str, f: IO[bytes]) -> Archive:
    if not _ends_whole(f):
        raise _refuse(path, _TRUNCATED)
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as z:
            bad = z.testzip()
            if bad is not None:
                raise _refuse(path, f"entry {bad!r} is corrupt (CRC mismatch)")
            if min((i.header_offset for i in z.infolist()), default=0) != 0:
                # zipfile took the directory of an archive inside the file for the file's own
                # (it reads "data before the archive"): the file ends where that archive ends.
                raise _refuse(path, _TRUNCATED)
            names = z.namelist()
            kind, prefix = _kind(path, z, names)
            if kind == "exported_program":
                _check_payloads(path, z, prefix)
            extra = f"{prefix}{EXTRA}torch_trt/"
            files = {n[len(extra) :]: z.read(n) for n in names if n.startswith(extra)}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise _refuse(path, f"the zip archive is corrupt ({e})") from None
    return Archive(path, kind, files)

"""The YAML archive: as-run configs stored by their sha256, read-only, and checked on demand."""

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User

from campaigns.models import ArchivedConfig

READ_ONLY = 0o444


def sha256_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def archive_root() -> Path:
    return Path(settings.CM_YAML_ARCHIVE_DIR)


def path_of(config: ArchivedConfig) -> Path:
    return archive_root() / config.relative_path


def archive(
    raw: bytes, *, kind: str, source_name: str, user: User | None = None
) -> tuple[ArchivedConfig, Path | None]:
    """Archive ``raw`` (inside the caller's transaction) and return its row.

    Returns also the path of the file if this call wrote it, so a caller whose
    transaction fails can remove it again (``discard``). Archiving the same
    bytes twice reuses the existing row and file.
    """
    digest = sha256_of(raw)
    config = ArchivedConfig.objects.filter(sha256=digest).first()
    if config is None:
        config = ArchivedConfig(
            sha256=digest,
            kind=kind,
            source_name=source_name[:1000],
            size=len(raw),
            content=raw.decode("utf-8"),
            archived_by=user,
        )
        config.save()
    return config, _write(path_of(config), raw)


def discard(path: Path | None) -> None:
    """Remove a file ``archive`` wrote, when the transaction that recorded it rolled back."""
    if path is not None:
        path.unlink(missing_ok=True)


def _write(path: Path, raw: bytes) -> Path | None:
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a crash never leaves a partial file under the hash.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(raw)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, READ_ONLY)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class Finding:
    """Something wrong in the archive: which file or row, and what."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def verify() -> tuple[int, list[Finding]]:
    """Check every archived config against its hash; return the number checked and findings."""
    findings: list[Finding] = []
    known: set[Path] = set()
    count = 0
    for config in ArchivedConfig.objects.order_by("pk").iterator(chunk_size=500):
        count += 1
        path = path_of(config)
        known.add(path)
        findings += _check(config, path)
    root = archive_root()
    if root.exists():
        for path in sorted(root.rglob("*")):
            if path.is_file() and path not in known:
                findings.append(Finding(str(path), "file in the archive with no database record"))
    return count, findings


def _check(config: ArchivedConfig, path: Path) -> list[Finding]:
    label = f"{config.relative_path} ({config.source_name})"
    if sha256_of(config.content.encode("utf-8")) != config.sha256:
        yield_ = [Finding(label, "database copy does not match its sha256: the record was altered")]
    else:
        yield_ = []
    if not path.is_file():
        return [*yield_, Finding(label, "file is missing from the archive")]
    if sha256_of(path.read_bytes()) != config.sha256:
        yield_.append(
            Finding(label, "file content does not match its sha256: the file was altered")
        )
    if path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        yield_.append(Finding(label, "file is writable; archived files must be read-only"))
    return yield_

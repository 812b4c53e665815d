"""Signed checkpoints of the audit chain, in the C2SP tlog-checkpoint / signed-note format.

A checkpoint says "this log had SIZE events, and the chain hash after the last was HASH", signed
with the deployment's Ed25519 key::

    example.org/compliance-bot/audit
    1000
    <base64 of the 32-byte chain hash>

    — example.org/compliance-bot/audit <base64 of 4-byte key id + 64-byte signature>

Checkpoints are kept in ``audit_checkpoints``, served over HTTP and written to files
(``<data dir>/checkpoints`` and ``COMPLIANCE_BOT_CHECKPOINT_DIR``) so copies live outside the
database: whoever rewrites the table can't rewrite the copies, and ``verify`` finds the change.
The key id is the first 4 bytes of SHA-256(key name, newline, 0x01, public key), as the note
format defines it for Ed25519. This module signs and parses; it never decides what is intact.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.config import ConfigError, Settings
from bot.store import Store
from bot.store.tables import AuditCheckpoint, AuditHead

log = logging.getLogger(__name__)

ED25519 = b"\x01"  # the note format's algorithm byte for Ed25519
DASH = "\u2014"  # every signature line starts with an em dash and a space


class NoteError(ValueError):
    """Text that is not a checkpoint note."""


class NoKey(ValueError):
    """Checkpoints to verify, and no public key to verify them with."""


@dataclass(frozen=True)
class Verifier:
    """A public key and the name it signs under."""

    name: str
    public: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        """Hex of the 4-byte key id that starts every signature by this key."""
        material = self.name.encode() + b"\n" + ED25519 + self.raw
        return hashlib.sha256(material).digest()[:4].hex()

    @property
    def vkey(self) -> str:
        """The note format's verifier key: ``name+keyid+base64(0x01 || public key)``."""
        return f"{self.name}+{self.key_id}+{base64.b64encode(ED25519 + self.raw).decode()}"

    @property
    def pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def verifies(self, checkpoint: Checkpoint) -> bool:
        """Signed by this public key. The key's name is taken from the signature line: it names
        the deployment (from COMPLIANCE_BOT_PUBLIC_URL), which may have moved since, and the key
        id binds that name to this key anyway."""
        named = (
            self if checkpoint.key_name == self.name else Verifier(checkpoint.key_name, self.public)
        )
        if checkpoint.key_id != named.key_id:
            return False
        try:
            signature = base64.b64decode(checkpoint.signature, validate=True)
            self.public.verify(signature, checkpoint.body().encode())
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    name: str
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.private.public_key())

    def sign(self, origin: str, size: int, chain_hash: str) -> Checkpoint:
        unsigned = Checkpoint(origin, size, chain_hash, self.name, self.verifier.key_id, "")
        signature = self.private.sign(unsigned.body().encode())
        return Checkpoint(
            origin,
            size,
            chain_hash,
            self.name,
            unsigned.key_id,
            base64.b64encode(signature).decode(),
        )


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    hash: str  # hex of the chain hash after event ``size``
    key_name: str
    key_id: str  # hex, 4 bytes
    signature: str  # base64, 64 bytes

    def body(self) -> str:
        """The signed text: origin, size and hash lines."""
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(bytes.fromhex(self.hash)).decode()}\n"
        )

    def note(self) -> str:
        blob = bytes.fromhex(self.key_id) + base64.b64decode(self.signature)
        return f"{self.body()}\n{DASH} {self.key_name} {base64.b64encode(blob).decode()}\n"

    @classmethod
    def from_row(cls, row: AuditCheckpoint) -> Checkpoint:
        return cls(row.origin, row.size, row.hash, row.key_name, row.key_id, row.signature)


def parse_note(text: str, *, key_name: str | None = None) -> Checkpoint:
    """A checkpoint from its note text; with several signatures, the one by ``key_name`` (else
    the first)."""
    body, sep, signatures = text.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 3:
        raise NoteError("not a signed checkpoint note (origin, size, hash, blank line, signature)")
    origin, size_text, hash_text = lines[:3]
    if not size_text.isdigit():
        raise NoteError(f"checkpoint size {size_text!r} is not a number")
    try:
        digest = base64.b64decode(hash_text, validate=True)
    except ValueError:
        raise NoteError("checkpoint hash is not base64") from None
    if len(digest) != 32:
        raise NoteError("checkpoint hash is not 32 bytes")
    if len(lines) > 3:
        raise NoteError("checkpoint notes with extension lines are not ours")
    found = []
    for line in signatures.splitlines():
        if not line.startswith(DASH + " "):
            continue
        name, _, blob_text = line[2:].rpartition(" ")
        try:
            blob = base64.b64decode(blob_text, validate=True)
        except ValueError:
            continue
        if len(blob) == 68:
            found.append((name, blob[:4].hex(), base64.b64encode(blob[4:]).decode()))
    if not found:
        raise NoteError("checkpoint has no Ed25519 signature line")
    name, key_id, signature = next((f for f in found if f[0] == key_name), found[0])
    return Checkpoint(origin, int(size_text), digest.hex(), name, key_id, signature)


# -- keys -------------------------------------------------------------------------------------
def load_signer(settings: Settings, *, create: bool = True) -> Signer | None:
    """The deployment's signing key: ``COMPLIANCE_BOT_AUDIT_KEY`` (or ``..._PATH``), else the
    data dir's key file, made (owner-only) the first time; None when absent and not ``create``."""
    name = settings.audit_origin
    if settings.audit_key:
        private = serialization.load_pem_private_key(settings.audit_key.encode(), password=None)
        assert isinstance(private, Ed25519PrivateKey)  # checked by Settings.from_env
        return Signer(name, private)
    path = settings.audit_key_path
    if not path.exists():
        if not create:
            return None
        _create_key(path)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable PEM private key ({exc})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key")
    return Signer(name, private)


def _create_key(path: Path) -> None:
    """Write a new key without ever exposing a half-written one: processes starting together
    race to link their own complete file into place, and the first one wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        try:
            os.link(tmp, path)
            log.info("generated the audit signing key %s", path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def load_verifier(text: str, *, name: str | None = None) -> Verifier:
    """A public key from a PEM (public or private) or a note verifier key (``name+id+key``)."""
    text = text.strip()
    block = re.search(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", text, re.S)
    if block is None:
        name, _, rest = text.partition("+")  # base64 may hold "+" too: split twice only
        key_id, _, key = rest.partition("+")
        try:
            raw = base64.b64decode(key, validate=True)
        except ValueError:
            raw = b""
        if not name or len(key_id) != 8 or raw[:1] != ED25519 or len(raw) != 33:
            raise ConfigError("public key: expected a PEM or an Ed25519 name+keyid+base64 key")
        verifier = Verifier(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id != key_id:
            raise ConfigError("public key: the key id does not match the key")
        return verifier
    text = block.group(0)
    if "PRIVATE KEY" in text:
        private = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ConfigError("public key: not an Ed25519 key")
        return Verifier(name or "", private.public_key())
    public = serialization.load_pem_public_key(text.encode())
    if not isinstance(public, Ed25519PublicKey):
        raise ConfigError("public key: not an Ed25519 key")
    return Verifier(name or "", public)


# -- taking and publishing checkpoints ----------------------------------------------------------
def checkpoint(store: Store, settings: Settings, now: datetime) -> Checkpoint | None:
    """Sign the chain's current head when it grew since the last checkpoint, and publish it.

    Safe in several processes at once: the size is the key, so a second signer of the same head
    loses the insert and leaves it to the first.
    """
    signer = load_signer(settings)
    assert signer is not None
    with store.session() as session:
        head = session.get(AuditHead, 1)
        last = session.scalar(select(func.max(AuditCheckpoint.size)))
    if head is None or head.seq == 0 or (last is not None and last >= head.seq):
        return None
    taken = signer.sign(settings.audit_origin, head.seq, head.hash)
    try:
        with store.session() as session:
            session.add(
                AuditCheckpoint(
                    size=taken.size,
                    hash=taken.hash,
                    origin=taken.origin,
                    key_name=taken.key_name,
                    key_id=taken.key_id,
                    signature=taken.signature,
                    created_at=now,
                )
            )
    except IntegrityError:
        return None
    publish(settings, taken)
    return taken


def publish(settings: Settings, taken: Checkpoint) -> list[Path]:
    """Write ``<size>.txt`` and ``latest.txt`` where an operator can ship them from."""
    written = []
    for folder in (settings.data_dir / "checkpoints", settings.checkpoint_dir):
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write(folder / f"{taken.size}.txt", taken.note())
            latest = folder / "latest.txt"
            if _size_of(latest) < taken.size:  # a slower process must not move it back
                _write(latest, taken.note())
            written.append(folder)
        except OSError as exc:
            log.warning("could not write audit checkpoint %d to %s: %s", taken.size, folder, exc)
    return written


def _size_of(path: Path) -> int:
    try:
        return parse_note(path.read_text("utf-8")).size
    except (OSError, NoteError):
        return -1


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def latest(store: Store) -> Checkpoint | None:
    with store.session() as session:
        row = session.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)
        ).first()
        return Checkpoint.from_row(row) if row else None


def at_size(store: Store, size: int) -> Checkpoint | None:
    with store.session() as session:
        row = session.get(AuditCheckpoint, size)
        return Checkpoint.from_row(row) if row else None

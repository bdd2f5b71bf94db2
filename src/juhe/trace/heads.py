"""Signed tree heads as C2SP signed notes over a tlog-checkpoint body:

    <origin>\\n<tree size>\\n<base64 root>\\n\\n— <key name> <base64(key hash[4] ‖ Ed25519 signature)>\\n

the format Go's sumdb/note and the transparency-dev tools read, so a third party can check a
head with their own tools. The key is an Ed25519 key in a PEM file (configured, or generated
into the data dir on first use)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from juhe.trace import log, merkle
from juhe.trace.models import TreeHead

ORIGIN = "juhe.trace/v1"
KEY_NAME = "juhe.trace"
ED25519_ALG = b"\x01"  # signed-note algorithm byte for Ed25519


class HeadError(ValueError):
    code = "invalid_tree_head"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + ED25519_ALG + raw).digest()[:4]


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption())
        path.write_bytes(pem)
        path.chmod(0o600)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise HeadError(f"{path} is not an Ed25519 private key")
    return key


def public_key_text(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(session: Session, key: Ed25519PrivateKey, timestamp_ms: int) -> TreeHead:
    """Signs the tree as it is now and stores the head (in the caller's transaction)."""
    frontier = log.load_frontier(session)
    checkpoint = Checkpoint(ORIGIN, frontier.size, frontier.root())
    head = TreeHead(origin=ORIGIN, tree_size=frontier.size, root_hash=checkpoint.root_hash, timestamp_ms=timestamp_ms,
                    key_name=KEY_NAME, key_hash=key_hash(KEY_NAME, key.public_key()),
                    signature=key.sign(checkpoint.body().encode()))
    session.add(head)
    session.flush()
    return head


def note(head: TreeHead) -> str:
    checkpoint = Checkpoint(head.origin, head.tree_size, bytes(head.root_hash))
    signature = base64.b64encode(bytes(head.key_hash) + bytes(head.signature)).decode()
    return f"{checkpoint.body()}\n\u2014 {head.key_name} {signature}\n"


def open_note(text: str, public_key: Ed25519PublicKey, name: str = KEY_NAME) -> Checkpoint:
    """The checkpoint a note signs, if `public_key` signed it; HeadError otherwise."""
    body, sep, signatures = text.partition("\n\n")
    if not sep:
        raise HeadError("a signed note has its body, an empty line, then signature lines")
    lines = body.split("\n")
    if len(lines) < 3:
        raise HeadError("a checkpoint has an origin, a tree size and a root hash")
    try:
        checkpoint = Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True))
    except ValueError as e:
        raise HeadError(f"the checkpoint does not parse: {e}") from None
    if len(checkpoint.root_hash) != merkle.HASH_SIZE or checkpoint.tree_size < 0:
        raise HeadError("the checkpoint's size or root hash is malformed")
    wanted = key_hash(name, public_key)
    for line in signatures.strip("\n").split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if raw[:4] != wanted:
            continue
        try:
            public_key.verify(raw[4:], (body + "\n").encode())
        except InvalidSignature:
            raise HeadError("the tree head's signature does not verify") from None
        return checkpoint
    raise HeadError(f"the tree head carries no signature by {name} with this key")


def latest(session: Session) -> TreeHead | None:
    return session.scalar(select(TreeHead).order_by(TreeHead.id.desc()).limit(1))


def at_size(session: Session, tree_size: int) -> TreeHead | None:
    return session.scalar(select(TreeHead).where(TreeHead.tree_size == tree_size).order_by(TreeHead.id.desc()).limit(1))

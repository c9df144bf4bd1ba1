"""Encryption at rest of stored originals: streaming AES-256-GCM with a per-file key and key rotation.

File format (version 1)::

    header  = b"GRNDENC" | version (1 byte) | key id (8) | salt (16) | chunk size (4, big-endian)
    chunk i = AES-GCM(file key, nonce = i (8 bytes) | last flag (4 bytes), plaintext chunk, aad = header) + tag (16)

The file key is HKDF-SHA256(master key, salt), so nonces can count from zero in every file. The header is authenticated
in every chunk and the last chunk carries a flag: a changed, reordered, truncated or extended file fails to decrypt.
Memory use is one chunk (64 KiB), whatever the file size. The key id (a hash of the key) picks the decrypting key.

Example:
    cipher = FileCipher.from_setting(os.environ["GROUNDED_ORIGINALS_KEYS"])  # "new,old": first one encrypts
    cipher.encrypt_file(upload_path, stored_path)
    with cipher.open_decrypted(stored_path) as plain:
        parse(plain)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.errors import GroundedError

MAGIC = b"GRNDENC"
VERSION = 1
CHUNK = 64 * 1024
_HEADER = struct.Struct(">7sB8s16sI")
_TAG = 16
KEY_BYTES = 32


class CipherError(GroundedError):
    """A stored original cannot be decrypted: `reason` says why (never includes key material)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class UnknownKeyError(CipherError):
    """The file was encrypted with a key that is not configured (`key_id` names it)."""

    def __init__(self, path: str | Path, key_id: str) -> None:
        super().__init__(path, f"encrypted with key {key_id}, which is not among the configured keys")
        self.key_id = key_id


class TamperedFileError(CipherError):
    """The file is not a valid encrypted original: modified, truncated, extended, or not encrypted at all."""


def generate_key() -> str:
    """A new random 256-bit key as urlsafe base64 (the format of GROUNDED_ORIGINALS_KEYS)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_keys(setting: str) -> list[bytes]:
    """Keys from a comma-separated setting of urlsafe base64 keys (32 bytes each); the first one encrypts.

    Raises:
        ValueError: empty setting, an entry that is not base64 or not 32 bytes, or a repeated key; the message names
            the entry by position and never echoes it.
    """
    entries = [e.strip() for e in setting.split(",")]
    if not any(entries):
        raise ValueError("GROUNDED_ORIGINALS_KEYS is empty; generate a key with app.adapters.crypto.generate_key()")
    keys = []
    for i, entry in enumerate(entries, 1):
        try:
            key = base64.urlsafe_b64decode(entry + "=" * (-len(entry) % 4))
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"GROUNDED_ORIGINALS_KEYS entry {i}: not urlsafe base64 ({e})") from None
        if len(key) != KEY_BYTES:
            raise ValueError(f"GROUNDED_ORIGINALS_KEYS entry {i}: {len(key)} bytes, a key has {KEY_BYTES}")
        keys.append(key)
    return keys


def key_id(key: bytes) -> bytes:
    """8 bytes that name a key in file headers (a hash: it reveals nothing about the key)."""
    return hashlib.sha256(b"grounded-originals-key-id:" + key).digest()[:8]


def is_encrypted(path: str | Path) -> bool:
    """Whether the file starts with this format's magic (a cheap check; decrypting is the real one)."""
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


class _Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


class FileCipher:
    """Encrypts with `keys[0]`, decrypts with any of `keys` (rotation: put the new key first, then `rotate`).

    Raises:
        ValueError: no keys, a key that is not 32 bytes, or a repeated key.
    """

    def __init__(self, keys: list[bytes], chunk_size: int = CHUNK) -> None:
        if not keys:
            raise ValueError("FileCipher needs at least one key")
        if any(len(k) != KEY_BYTES for k in keys):
            raise ValueError(f"every key must be {KEY_BYTES} bytes")
        self._keys = {key_id(k): k for k in keys}
        if len(self._keys) != len(keys):
            raise ValueError("the same key is configured twice")
        if not 1024 <= chunk_size <= 16 * 1024 * 1024:
            raise ValueError("chunk_size must be between 1 KiB and 16 MiB")
        self._primary = key_id(keys[0])
        self.chunk_size = chunk_size

    @classmethod
    def from_setting(cls, setting: str) -> FileCipher:
        """A cipher from GROUNDED_ORIGINALS_KEYS ("new,old"); see `parse_keys`."""
        return cls(parse_keys(setting))

    def encrypt_file(self, src: str | Path, dst: str | Path) -> None:
        """Encrypt `src` into `dst` (atomically replaced; `dst` may be `src`)."""
        with open(src, "rb") as fin, _atomic(dst) as fout:
            self._encrypt_stream(fin, fout)

    def decrypt_to(self, src: str | Path, dst: str | Path) -> None:
        """Decrypt `src` into `dst` (atomically replaced; nothing is written when decryption fails).

        Raises:
            UnknownKeyError: the file's key is not configured.
            TamperedFileError: the file was changed, truncated or is not encrypted.
        """
        with open(src, "rb") as fin, _atomic(dst) as fout:
            self._decrypt_stream(fin, fout, str(src))

    @contextlib.contextmanager
    def open_decrypted(self, path: str | Path, tmp_dir: str | Path | None = None) -> Iterator[Path]:
        """A private temporary plaintext copy of `path` (same file name, under `tmp_dir` or the system temp folder:
        choose one on an encrypted or RAM-backed disk), deleted on exit."""
        folder = Path(tempfile.mkdtemp(prefix="grounded-plain-", dir=tmp_dir))  # mode 0700
        try:
            plain = folder / Path(path).name
            self.decrypt_to(path, plain)
            yield plain
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def rotate(self, path: str | Path) -> bool:
        """Re-encrypt `path` with the primary key in place; False when it already uses it."""
        if self.key_of(path) == self._primary.hex():
            return False
        with open(path, "rb") as fin, _atomic(path) as fout:
            self._reencrypt(fin, fout, str(path))
        return True

    def key_of(self, path: str | Path) -> str:
        """The hex key id in the file's header. Raises TamperedFileError when there is no valid header."""
        with open(path, "rb") as f:
            return _parse_header(f.read(_HEADER.size), str(path))[0].hex()

    # -- streams -----------------------------------------------------------------------------------------------

    def _encrypt_stream(self, fin: _Readable, fout: BinaryIO) -> None:
        salt = secrets.token_bytes(16)
        header = _HEADER.pack(MAGIC, VERSION, self._primary, salt, self.chunk_size)
        aead = AESGCM(_file_key(self._keys[self._primary], salt))
        fout.write(header)
        chunk, index = fin.read(self.chunk_size), 0
        while True:
            following = fin.read(self.chunk_size)  # read ahead: the last chunk is flagged
            fout.write(aead.encrypt(_nonce(index, not following), chunk, header))
            if not following:
                return
            chunk, index = following, index + 1

    def _decrypt_chunks(self, fin: BinaryIO, where: str) -> Iterator[bytes]:
        header = fin.read(_HEADER.size)
        kid, salt, chunk_size = _parse_header(header, where)
        if kid not in self._keys:
            raise UnknownKeyError(where, kid.hex())
        aead = AESGCM(_file_key(self._keys[kid], salt))
        block, index = fin.read(chunk_size + _TAG), 0
        while True:
            following = fin.read(chunk_size + _TAG)
            try:
                yield aead.decrypt(_nonce(index, not following), block, header)
            except InvalidTag:
                what = "truncated" if not following else "modified"
                raise TamperedFileError(where, f"chunk {index} failed authentication: the file was {what}") from None
            if not following:
                return
            block, index = following, index + 1

    def _decrypt_stream(self, fin: BinaryIO, fout: BinaryIO, where: str) -> None:
        for plain in self._decrypt_chunks(fin, where):
            fout.write(plain)

    def _reencrypt(self, fin: BinaryIO, fout: BinaryIO, where: str) -> None:
        # Plaintext only ever in memory, one chunk at a time: a pipe from the decrypting to the encrypting stream.
        self._encrypt_stream(_ChunkReader(self._decrypt_chunks(fin, where)), fout)


class _ChunkReader:
    """A read()-only file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buf = chunks, b""

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _parse_header(header: bytes, where: str) -> tuple[bytes, bytes, int]:
    if len(header) < _HEADER.size or not header.startswith(MAGIC):
        raise TamperedFileError(where, "not an encrypted original (no GRNDENC header)")
    _, version, kid, salt, chunk_size = _HEADER.unpack(header)
    if version != VERSION:
        raise TamperedFileError(where, f"unsupported format version {version}; this build reads {VERSION}")
    if not 1024 <= chunk_size <= 16 * 1024 * 1024:
        raise TamperedFileError(where, f"invalid chunk size {chunk_size} in header")
    return kid, salt, chunk_size


def _file_key(master: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"grounded-originals-v1").derive(master)


def _nonce(index: int, last: bool) -> bytes:
    return struct.pack(">QI", index, 1 if last else 0)


@contextlib.contextmanager
def _atomic(dst: str | Path) -> Iterator[BinaryIO]:
    """A temp file next to `dst` that replaces it on success and disappears on failure."""
    dst = Path(dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""FileCipher: round trips, tamper detection, rotation, wrong keys, key parsing, a 50 MB file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from app.adapters.crypto import (
    CHUNK,
    CipherError,
    FileCipher,
    TamperedFileError,
    UnknownKeyError,
    generate_key,
    is_encrypted,
    key_id,
    parse_keys,
)

K1, K2 = os.urandom(32), os.urandom(32)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


class TestConstruction:
    def test_keys_are_validated(self) -> None:
        with pytest.raises(ValueError, match="at least one key"):
            FileCipher([])
        with pytest.raises(ValueError, match="32 bytes"):
            FileCipher([b"short"])
        with pytest.raises(ValueError, match="twice"):
            FileCipher([K1, K1])
        with pytest.raises(ValueError, match="chunk_size"):
            FileCipher([K1], chunk_size=10)

    def test_generate_and_parse_keys(self) -> None:
        a, b = generate_key(), generate_key()
        assert a != b and len(base64.urlsafe_b64decode(a)) == 32
        assert parse_keys(f" {a} ,{b.rstrip('=')}") == [base64.urlsafe_b64decode(a), base64.urlsafe_b64decode(b)]
        FileCipher.from_setting(f"{a},{b}")

    @pytest.mark.parametrize(
        ("setting", "message"),
        [
            ("", "is empty"),
            (" , ", "is empty"),
            ("not base64!!", "entry 1: not urlsafe base64"),
            (f"{generate_key()},{base64.urlsafe_b64encode(b'x' * 16).decode()}", "entry 2: 16 bytes"),
            (f"{generate_key()},", "entry 2: 0 bytes"),
        ],
    )
    def test_bad_settings_are_named_by_position(self, setting: str, message: str) -> None:
        with pytest.raises(ValueError, match=message) as info:
            parse_keys(setting)
        for entry in filter(None, (e.strip() for e in setting.split(","))):
            assert entry not in str(info.value) or entry == "not base64!!"  # a key is never echoed


class TestRoundTrip:
    @pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 3 * 1024, 10_000])
    def test_sizes_around_chunk_boundaries(self, tmp_path: Path, size: int) -> None:
        cipher = FileCipher([K1], chunk_size=1024)
        data = os.urandom(size)
        src = _write(tmp_path / "a.pdf", data)
        cipher.encrypt_file(src, tmp_path / "a.enc")
        assert is_encrypted(tmp_path / "a.enc") and not is_encrypted(src)
        # Short random strings can occur in any ciphertext by chance; from 16 bytes on that is astronomically unlikely.
        assert size < 16 or data not in (tmp_path / "a.enc").read_bytes()
        cipher.decrypt_to(tmp_path / "a.enc", tmp_path / "a.out")
        assert (tmp_path / "a.out").read_bytes() == data

    def test_in_place_and_open_decrypted(self, tmp_path: Path) -> None:
        cipher = FileCipher([K1])
        data = b"hello original\n" * 1000
        path = _write(tmp_path / "0001_report.pdf", data)
        cipher.encrypt_file(path, path)
        assert is_encrypted(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with cipher.open_decrypted(path) as plain:
            assert plain.name == "0001_report.pdf" and plain.read_bytes() == data
            assert stat.S_IMODE(plain.parent.stat().st_mode) == 0o700
        assert not plain.exists() and not plain.parent.exists()
        with cipher.open_decrypted(path, tmp_dir=tmp_path) as plain:
            assert plain.parent.parent == tmp_path and plain.read_bytes() == data
        assert sorted(p.name for p in tmp_path.iterdir()) == ["0001_report.pdf"]

    def test_same_plaintext_encrypts_differently(self, tmp_path: Path) -> None:
        cipher = FileCipher([K1])
        src = _write(tmp_path / "a", b"same")
        cipher.encrypt_file(src, tmp_path / "x")
        cipher.encrypt_file(src, tmp_path / "y")
        assert (tmp_path / "x").read_bytes() != (tmp_path / "y").read_bytes()

    def test_large_file(self, tmp_path: Path) -> None:
        cipher = FileCipher([K1])
        data = os.urandom(50 * 1024 * 1024)
        src = _write(tmp_path / "big.bin", data)
        cipher.encrypt_file(src, tmp_path / "big.enc")
        chunks = -(-len(data) // CHUNK)
        assert (tmp_path / "big.enc").stat().st_size == 36 + len(data) + 16 * chunks
        cipher.decrypt_to(tmp_path / "big.enc", tmp_path / "big.out")
        assert (tmp_path / "big.out").read_bytes() == data


class TestTampering:
    @pytest.fixture
    def enc(self, tmp_path: Path) -> Path:
        src = _write(tmp_path / "a.txt", os.urandom(5000))
        FileCipher([K1], chunk_size=1024).encrypt_file(src, tmp_path / "a.enc")
        return tmp_path / "a.enc"

    @pytest.mark.parametrize("offset", [10, 20, 33, 40, 1100, -1])
    def test_any_flipped_bit_is_detected(self, enc: Path, offset: int) -> None:
        _flip(enc, offset)
        with pytest.raises(CipherError):
            FileCipher([K1]).decrypt_to(enc, enc.with_suffix(".out"))
        assert not enc.with_suffix(".out").exists()  # nothing half-written

    def test_flipped_payload_bit(self, enc: Path) -> None:
        _flip(enc, 2000)
        with pytest.raises(TamperedFileError, match="chunk 1 failed authentication: the file was modified"):
            FileCipher([K1]).decrypt_to(enc, enc.with_suffix(".out"))

    def test_truncated_at_a_chunk_boundary(self, enc: Path) -> None:
        enc.write_bytes(enc.read_bytes()[: 36 + 2 * (1024 + 16)])
        with pytest.raises(TamperedFileError, match="truncated"):
            FileCipher([K1]).decrypt_to(enc, enc.with_suffix(".out"))

    def test_extended_and_reordered(self, enc: Path) -> None:
        data = enc.read_bytes()
        block = data[36 : 36 + 1040]
        for forged in (data + block, data[:36] + data[36 + 1040 : 36 + 2080] + block + data[36 + 2080 :]):
            enc.write_bytes(forged)
            with pytest.raises(TamperedFileError):
                FileCipher([K1]).decrypt_to(enc, enc.with_suffix(".out"))

    def test_plaintext_file_is_not_an_encrypted_original(self, tmp_path: Path) -> None:
        plain = _write(tmp_path / "p.txt", b"just text, long enough to hold a header" * 2)
        with pytest.raises(TamperedFileError, match="no GRNDENC header"):
            FileCipher([K1]).decrypt_to(plain, tmp_path / "out")


class TestKeys:
    def test_wrong_key(self, tmp_path: Path) -> None:
        src = _write(tmp_path / "a", b"secret")
        FileCipher([K1]).encrypt_file(src, tmp_path / "a.enc")
        with pytest.raises(UnknownKeyError, match=key_id(K1).hex()) as info:
            FileCipher([K2]).decrypt_to(tmp_path / "a.enc", tmp_path / "out")
        assert info.value.key_id == key_id(K1).hex()

    def test_rotation(self, tmp_path: Path) -> None:
        data = os.urandom(200_000)
        path = _write(tmp_path / "a.pdf", data)
        FileCipher([K1]).encrypt_file(path, path)
        rotating = FileCipher([K2, K1])  # new key first, the old one still decrypts
        with rotating.open_decrypted(path) as plain:
            assert plain.read_bytes() == data
        assert rotating.rotate(path) is True
        assert rotating.key_of(path) == key_id(K2).hex()
        assert rotating.rotate(path) is False  # already on the primary key
        with FileCipher([K2]).open_decrypted(path) as plain:
            assert plain.read_bytes() == data
        with pytest.raises(UnknownKeyError):
            FileCipher([K1]).decrypt_to(path, tmp_path / "out")

    def test_rotating_a_tampered_file_leaves_it_alone(self, tmp_path: Path) -> None:
        path = _write(tmp_path / "a", os.urandom(300_000))
        FileCipher([K1]).encrypt_file(path, path)
        _flip(path, 200_000)
        before = path.read_bytes()
        with pytest.raises(TamperedFileError):
            FileCipher([K2, K1]).rotate(path)
        assert path.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["a"]

"""Pulumi's passphrase secrets provider, read-only, so `meshplan diff` can say that a
secret config value changed between two stack files — never what it is.

The format is the CLI's (pkg/secrets/passphrase): a stack file's `encryptionsalt`
is `v1:<base64 salt>:<a check value>`; the key is PBKDF2-HMAC-SHA256 of the
passphrase over that salt, 1,000,000 rounds, 32 bytes; every `secure:` value and the
check value are `v1:<base64 nonce>:<base64 AES-256-GCM ciphertext and tag>`, and the
check value opens to "pulumi". The cipher is the `cryptography` library's; the key
derivation is the standard library's.

Plaintexts never leave this module: each is reduced to a keyed fingerprint whose key
is random per process, good only for telling two values apart within one run."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from model.errors import ConfigError
from model.safe_files import STACK_FILE, load_yaml_documents
from model.names import PROJECT
from model.settings.sources import is_secure_value

PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE_FILE"
ROUNDS = 1_000_000
CHECK_PLAINTEXT = b"pulumi"
_FINGERPRINT_KEY = os.urandom(32)


def _passphrase() -> str | None:
    """The passphrase as the CLI takes it: the variable, else the file it names."""
    if PASSPHRASE_ENV in os.environ:
        return os.environ[PASSPHRASE_ENV]
    path = os.environ.get(PASSPHRASE_FILE_ENV)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ConfigError(file=path, path="", message=f"cannot read {PASSPHRASE_FILE_ENV} ({error.strerror})") from None
    return None


@lru_cache(maxsize=8)
def derived_key(salt: bytes, passphrase: str) -> bytes:
    # One derivation per stack salt and process: it costs about a third of a second.
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode("utf-8"), salt, ROUNDS, 32)


def _open(key: bytes, ciphertext: str) -> bytes:
    version, nonce, sealed = ciphertext.split(":")
    if version != "v1":
        raise ValueError(version)
    return AESGCM(key).decrypt(base64.b64decode(nonce, validate=True), base64.b64decode(sealed, validate=True), None)


def _secure_values(config: Mapping, path: str = "") -> dict[str, str]:
    """`secure:` ciphertexts by key path (project keys without the prefix)."""
    found: dict[str, str] = {}
    for key, value in config.items():
        key = str(key)
        if not path:
            key = key.removeprefix(f"{PROJECT}:")
        here = f"{path}.{key}" if path else key
        if is_secure_value(value):
            found[here] = str(value["secure"])
        elif isinstance(value, Mapping):
            found.update(_secure_values(value, here))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if is_secure_value(item):  # `pulumi config set --secret --path 'key[i]'`
                    found[f"{here}[{i}]"] = str(item["secure"])
                elif isinstance(item, Mapping):
                    found.update(_secure_values(item, f"{here}[{i}]"))
    return found


def secret_fingerprints(text: str, source: str) -> dict[str, str] | None:
    """Fingerprints of a stack file's secret values, by key path; None when they
    cannot be opened here (no passphrase given, or not the passphrase provider)."""
    try:
        documents = load_yaml_documents(text, file=source, limits=STACK_FILE)
    except ConfigError:
        return None  # the render of the same file reports it
    document = documents[0] if documents else {}
    salt_field = document.get("encryptionsalt") if isinstance(document, Mapping) else None
    config = document.get("config") if isinstance(document, Mapping) else None
    passphrase = _passphrase() if isinstance(salt_field, str) else None
    if passphrase is None or not isinstance(config, Mapping):
        return None
    try:
        version, salt, check = salt_field.split(":", 2)
        key = derived_key(base64.b64decode(salt, validate=True), passphrase)
        opened = _open(key, check)
    except (ValueError, binascii.Error, InvalidTag):
        opened = None
    if opened != CHECK_PLAINTEXT:
        raise ConfigError(file=source, path="encryptionsalt",
                          message=f"{PASSPHRASE_ENV} does not open this stack's secrets (wrong passphrase?)")
    fingerprints = {}
    for path, ciphertext in _secure_values(config).items():
        try:
            plaintext = _open(key, ciphertext)
        except (ValueError, binascii.Error, InvalidTag):
            raise ConfigError(file=source, path=f"{PROJECT}:{path}",
                              message="a secure value this stack's passphrase does not open") from None
        fingerprints[path] = hmac.new(_FINGERPRINT_KEY, plaintext, hashlib.sha256).hexdigest()
    return fingerprints


def secret_changes(base: dict[str, str] | None, proposed: dict[str, str] | None) -> list[dict[str, Any]]:
    """Which secret values were added, removed or changed: only where both sides
    could be opened (else nothing can be said, and nothing is)."""
    if base is None or proposed is None:
        return []
    changes = []
    for path in sorted({*base, *proposed}):
        if path not in base:
            changes.append({"key": path, "change": "added"})
        elif path not in proposed:
            changes.append({"key": path, "change": "removed"})
        elif base[path] != proposed[path]:
            changes.append({"key": path, "change": "changed"})
    return changes

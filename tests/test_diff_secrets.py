"""`meshplan diff` says that a secret config value changed — never what it is —
when a passphrase (PULUMI_CONFIG_PASSPHRASE) opens both stack files' secrets, the
way the Pulumi CLI's passphrase provider sealed them."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from meshplan.diff import passphrase
from meshplan.cli import main
from tests.conftest import ROOT

# The Pulumi CLI's own test vector (pkg/secrets/passphrase tests): this salt state
# was made by the CLI with the passphrase "password".
CLI_SALT = "v1:fozI5u6B030=:v1:F+6ZduKKd8G0/V7L:PGMFeIzwobWRKmEAzUdaQHqC5mMRIQ=="
CLI_PASSPHRASE = "password"


def seal(plaintext: str, nonce: bytes) -> str:
    """A `secure:` value as the CLI writes it, sealed under CLI_SALT's key."""
    _, salt, _ = CLI_SALT.split(":", 2)
    key = passphrase.derived_key(base64.b64decode(salt), CLI_PASSPHRASE)
    return "v1:" + base64.b64encode(nonce).decode() + ":" + base64.b64encode(
        AESGCM(key).encrypt(nonce, plaintext.encode(), None)).decode()


def bms_stack(tmp_path, name: str, password: str, nonce: bytes):
    path = tmp_path / name / "Pulumi.bms.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"encryptionsalt: {CLI_SALT}\n" + (ROOT / "Pulumi.bms.yaml").read_text()
                    + f"  bookinfo-mesh:databasePassword:\n    secure: {seal(password, nonce)}\n")
    return path


def diff_json(capsys, base, proposed) -> tuple[int, dict, str]:
    code = main(["diff", "--config", str(proposed), "--base-config", str(base), "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), out + err


@pytest.fixture
def with_passphrase(monkeypatch):
    monkeypatch.setenv(passphrase.PASSPHRASE_ENV, CLI_PASSPHRASE)


def test_the_clis_own_salt_opens_with_its_passphrase(with_passphrase):
    assert passphrase.secret_fingerprints(f"encryptionsalt: {CLI_SALT}\nconfig: {{}}\n", "x") == {}


def test_a_changed_password_shows_as_changed_and_its_value_nowhere(capsys, tmp_path, with_passphrase):
    base = bms_stack(tmp_path, "base", "first-Pa55word", b"\x01" * 12)
    proposed = bms_stack(tmp_path, "head", "second-Pa55word", b"\x02" * 12)
    code, shown, everything = diff_json(capsys, base, proposed)
    assert code == 2 and shown["secrets"] == [{"key": "databasePassword", "change": "changed"}]
    assert shown["changes"] == []  # the rendered Secret shows [secret] on both sides
    assert "Pa55word" not in everything
    main(["diff", "--config", str(proposed), "--base-config", str(base), "--format", "markdown"])
    markdown = capsys.readouterr().out
    assert "secrets: databasePassword changed" in markdown and "Pa55word" not in markdown


def test_the_same_password_sealed_again_is_no_change(capsys, tmp_path, with_passphrase):
    # `pulumi config set --secret` draws a new nonce every time: other ciphertext, same value.
    base = bms_stack(tmp_path, "base", "same-Pa55word", b"\x01" * 12)
    proposed = bms_stack(tmp_path, "head", "same-Pa55word", b"\x03" * 12)
    code, shown, _ = diff_json(capsys, base, proposed)
    assert code == 0 and "secrets" not in shown


def test_without_a_passphrase_nothing_is_said_about_secrets(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv(passphrase.PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv(passphrase.PASSPHRASE_FILE_ENV, raising=False)
    base = bms_stack(tmp_path, "base", "first-Pa55word", b"\x01" * 12)
    proposed = bms_stack(tmp_path, "head", "second-Pa55word", b"\x02" * 12)
    code, shown, _ = diff_json(capsys, base, proposed)
    assert code == 0 and "secrets" not in shown


def test_a_wrong_passphrase_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv(passphrase.PASSPHRASE_ENV, "password123")
    base = bms_stack(tmp_path, "base", "first-Pa55word", b"\x01" * 12)
    proposed = bms_stack(tmp_path, "head", "second-Pa55word", b"\x02" * 12)
    code = main(["diff", "--config", str(proposed), "--base-config", str(base)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].endswith("Pulumi.bms.yaml: encryptionsalt: PULUMI_CONFIG_PASSPHRASE does not open this stack's "
                           "secrets (wrong passphrase?)")


def test_the_passphrase_file_is_read_as_the_cli_reads_it(tmp_path, monkeypatch):
    monkeypatch.delenv(passphrase.PASSPHRASE_ENV, raising=False)
    (tmp_path / "phrase").write_text(CLI_PASSPHRASE + "\n")
    monkeypatch.setenv(passphrase.PASSPHRASE_FILE_ENV, str(tmp_path / "phrase"))
    text = f"encryptionsalt: {CLI_SALT}\nconfig:\n  bookinfo-mesh:databasePassword:\n" \
           f"    secure: {seal('x', bytes(12))}\n"
    assert set(passphrase.secret_fingerprints(text, "Pulumi.x.yaml")) == {"databasePassword"}


def test_added_and_removed_secrets_are_named():
    assert passphrase.secret_changes({"a": "1", "b": "2"}, {"b": "2", "c": "3"}) == [
        {"key": "a", "change": "removed"}, {"key": "c", "change": "added"}]
    assert passphrase.secret_changes(None, {"c": "3"}) == []


def test_secure_values_inside_lists_are_opened_and_named_by_their_index(with_passphrase):
    # `pulumi config set --secret --path 'key[0]'` seals a list item in place, and a
    # mapping in a list may hold a sealed value of its own.
    text = (f"encryptionsalt: {CLI_SALT}\nconfig:\n  bookinfo-mesh:egress:\n    externalServices:\n"
            f"      - name: api\n        token:\n          secure: {seal('one', bytes(12))}\n"
            f"  bookinfo-mesh:tokens:\n    - plain\n    - secure: {seal('two', bytes(12))}\n")
    opened = passphrase.secret_fingerprints(text, "Pulumi.x.yaml")
    assert set(opened) == {"egress.externalServices[0].token", "tokens[1]"}
    changed = text.replace(seal("two", bytes(12)), seal("three", bytes(12)))
    assert passphrase.secret_changes(opened, passphrase.secret_fingerprints(changed, "Pulumi.x.yaml")) == [
        {"key": "tokens[1]", "change": "changed"}]

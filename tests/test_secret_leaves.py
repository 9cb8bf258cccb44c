"""Every secret leaf (the database password, the ingress TLS certificate and private
key) takes one path: read at the config edge as a secret Output, registered on a
Kubernetes Secret as that secret Output. The program runs here as the engine runs it
after `pulumi config set --secret [--path]`: the values arrive decrypted, the keys
marked secret. Asserted on the Output the program hands pulumi-kubernetes (the SDK's
own secret flag) and on the Settings it parsed, not on the recording's masking."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes.core.v1 as core_v1
import pytest

import components.config
from meshplan.render.engine import run_program
from model.settings import SecretValue, parse_settings, read_stack_file
from tests.conftest import ROOT

PASSWORD = "Known-Plain-Pa55word-0815"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nKNOWN-PLAINTEXT-CERTIFICATE-0815\n-----END CERTIFICATE-----\n"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nKNOWN-PLAINTEXT-PRIVATE-KEY-0815\n-----END PRIVATE KEY-----\n"
PLAINTEXTS = (PASSWORD, "KNOWN-PLAINTEXT-CERTIFICATE-0815", "KNOWN-PLAINTEXT-PRIVATE-KEY-0815")


@dataclasses.dataclass
class Run:
    settings: Any = None
    """The Settings the program parsed from the engine's config."""
    string_data: dict[str, tuple[bool, Any]] = dataclasses.field(default_factory=dict)
    """Secret name → (the secret flag, the value) of the stringData Output the
    program passed to pulumi-kubernetes."""


@pytest.fixture(scope="module")
def engine_run():
    """The bms stack (a database password) with HTTPS on the ingress gateway, its
    certificate and key handed over as the engine hands a key set with
    `--secret --path`: decrypted, the whole `ingress` key marked secret."""
    raw = read_stack_file(str(ROOT / "Pulumi.bms.yaml"))
    raw["databasePassword"] = SecretValue(PASSWORD)
    raw["ingress"] = {"hosts": ["bookinfo.example.com"], "tls": {
        "credentialName": "bookinfo-credential", "certificate": CERTIFICATE,
        "privateKey": SecretValue(PRIVATE_KEY)}}
    run = Run()
    with pytest.MonkeyPatch.context() as patch:
        read_settings = components.config.settings_from_engine

        def settings_from_engine():
            run.settings = read_settings()
            return run.settings

        construct = core_v1.Secret.__init__

        def secret_init(self, resource_name, *args, **kwargs):
            value = pulumi.Output.from_input(kwargs.get("string_data"))
            name = kwargs["metadata"]["name"]
            pulumi.Output.all(value.is_secret(), value).apply(
                lambda flag_and_value: run.string_data.__setitem__(name, tuple(flag_and_value)))
            construct(self, resource_name, *args, **kwargs)

        # __main__ imports settings_from_engine afresh from the module on every run.
        patch.setattr(components.config, "settings_from_engine", settings_from_engine)
        patch.setattr(core_v1.Secret, "__init__", secret_init)
        settings = parse_settings(raw, stack="bms", source="Pulumi.bms.yaml")
        run_program(raw, settings=settings, stack="bms", source="Pulumi.bms.yaml")
    return run


def test_each_registered_secret_gets_its_values_as_a_secret_output(engine_run):
    assert engine_run.string_data == {
        "bookinfo-db": (True, {"password": PASSWORD}),
        "bookinfo-credential": (True, {"tls.crt": CERTIFICATE, "tls.key": PRIVATE_KEY}),
    }


def _strings(value: Any) -> list[str]:
    """Every string inside `value`: dataclass fields, mapping keys and values, items."""
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in _strings(getattr(value, f.name))]
    if isinstance(value, Mapping):
        return [s for item in value.items() for s in _strings(item)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [s for item in value for s in _strings(item)]
    return [repr(value)]


def test_the_settings_the_program_parsed_hold_no_secret_plaintext(engine_run):
    strings = _strings(engine_run.settings)
    assert len(strings) > 100  # the walk reached into the settings
    for plaintext in PLAINTEXTS:
        assert not [s for s in strings if plaintext in s], plaintext
        assert plaintext not in repr(engine_run.settings)


def test_the_settings_hold_the_mark_that_the_tls_leaves_are_set(engine_run):
    tls = engine_run.settings.ingress.tls
    assert isinstance(tls.certificate, SecretValue) and isinstance(tls.private_key, SecretValue)

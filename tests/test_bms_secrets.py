"""The database password: a Pulumi secret from stack config to a Kubernetes Secret
that pods read by reference, and in plain text nowhere on the way, render output
included. Where it is not set, the program run as the engine runs it stops with one
line; offline renders show it as not set (tests/test_bms_secrets_offline.py)."""
from __future__ import annotations

import json
import runpy

import pulumi
import pytest
import yaml

from meshplan.render import formats
from meshplan.render.engine import run_program
from meshplan.render.recording import SECRET_SHOWN
from model.errors import ConfigError
from model.settings import SECRET_NOT_SET_SHOWN, SecretValue, parse_settings, read_stack_file
from tests.conftest import ROOT, objects_of, render_stack

PLAINTEXT = "Plain-Text-Pa55word-4711"


@pytest.fixture(scope="module")
def rendered_with_plaintext():
    """The bms stack run with a password the engine hands over decrypted, as
    `pulumi up` does after `pulumi config set --secret`."""
    raw = read_stack_file(str(ROOT / "Pulumi.bms.yaml"))
    raw["databasePassword"] = SecretValue(PLAINTEXT)
    settings = parse_settings(raw, stack="bms", source="Pulumi.bms.yaml")
    return run_program(raw, settings=settings, stack="bms", source="Pulumi.bms.yaml")


def test_the_repository_holds_no_password_not_even_as_ciphertext():
    # A `secure:` value must be real ciphertext of the stack's own secrets provider;
    # the user sets it with `pulumi config set --secret`.
    for path in [*ROOT.glob("Pulumi.*.yaml"), *ROOT.glob("examples/*/*.yaml")]:
        document = yaml.safe_load(path.read_text()) or {}
        assert "bookinfo-mesh:databasePassword" not in (document.get("config") or {}), path.name
        assert "secure:" not in path.read_text(), path.name


@pytest.mark.parametrize("printer", [formats.as_json, formats.as_yaml, formats.summary])
def test_the_password_appears_in_no_render_format(rendered_with_plaintext, printer):
    assert PLAINTEXT not in printer(rendered_with_plaintext)


def test_the_password_appears_in_no_recorded_input_output_or_settings(rendered_with_plaintext):
    assert PLAINTEXT not in repr([r.as_json() for r in rendered_with_plaintext.resources])
    assert PLAINTEXT not in repr(rendered_with_plaintext.outputs)
    assert PLAINTEXT not in repr(rendered_with_plaintext.settings)


def test_the_kubernetes_secret_is_registered_with_its_value_masked(rendered_with_plaintext):
    secret = objects_of(rendered_with_plaintext, "Secret")["bookinfo-db"]
    assert secret["metadata"]["namespace"] == "bookinfo"
    assert secret["stringData"] == SECRET_SHOWN


def test_an_offline_render_of_the_stack_file_shows_the_secret_masked():
    secret = objects_of(render_stack("bms"), "Secret")["bookinfo-db"]
    assert secret["stringData"] == SECRET_SHOWN


def _containers(rendered):
    for obj in rendered.objects():
        if obj["kind"] in ("Deployment", "StatefulSet"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]["containers"][0]


def test_postgres_and_every_database_client_read_the_password_by_secret_key_ref(rendered_with_plaintext):
    reference = {"secretKeyRef": {"name": "bookinfo-db", "key": "password"}}
    expected = {
        "bookinfo-db": "POSTGRES_PASSWORD",
        "bookinfo-core-v1": "SPRING_DATASOURCE_PASSWORD",
        "bookinfo-rating-v1": "SPRING_DATASOURCE_PASSWORD",
        "bookinfo-rating-v2": "SPRING_DATASOURCE_PASSWORD",
        "bookinfo-order-v1": "SPRING_DATASOURCE_PASSWORD",
    }
    found = {}
    for name, container in _containers(rendered_with_plaintext):
        for env in container.get("env", []):
            if "valueFrom" in env:
                assert env["valueFrom"] == reference, name
                found[name] = env["name"]
    assert found == expected


def test_no_container_sets_a_password_literally_or_turns_authentication_off(rendered_with_plaintext):
    for name, container in _containers(rendered_with_plaintext):
        for env in container.get("env", []):
            assert not ("PASSWORD" in env["name"] and "value" in env), name
            assert env["name"] != "POSTGRES_HOST_AUTH_METHOD", name
    for config_map in objects_of(rendered_with_plaintext, "ConfigMap").values():
        assert not any("PASSWORD" in key for key in config_map["data"]), config_map["metadata"]["name"]
        assert "trust" not in repr(config_map["data"]).lower()


def test_a_config_error_does_not_echo_the_password():
    raw = read_stack_file(str(ROOT / "Pulumi.bms.yaml"))
    raw["databasePassword"] = SecretValue(PLAINTEXT)
    raw["app"] = {**raw["app"], "replicas": "many"}
    with pytest.raises(ConfigError) as error:
        parse_settings(raw, stack="bms", source="Pulumi.bms.yaml")
    assert PLAINTEXT not in str(error.value)


NOT_SET = ("Pulumi.bms.yaml: bookinfo-mesh:databasePassword: not set; set it with "
           "pulumi config set --secret databasePassword <value> --stack bms")


@pytest.fixture
def engine_config():
    """Mocks and config as the engine sets them for one program run (registrations
    recorded into `captured`, when given); cleared after."""
    from meshplan.render import sdk

    def configure(config: dict[str, str], secret_keys: list[str], captured: sdk.Captured | None = None) -> None:
        echo = sdk.echo_mocks()
        sdk.start_mocks(echo, project="bookinfo-mesh", stack="bms", config=config, secret_keys=secret_keys,
                        monitor=sdk.recording_monitor(echo, captured) if captured else None)

    yield configure
    pulumi.runtime.set_all_config({}, [])


def _engine_config_of_bms() -> dict[str, str]:
    raw = read_stack_file(str(ROOT / "Pulumi.bms.yaml"))
    return {f"bookinfo-mesh:{key}": json.dumps(value) for key, value in raw.items()}


def test_the_config_edge_refuses_a_password_the_engine_does_not_mark_secret(engine_config):
    from components.config import settings_from_engine

    engine_config({**_engine_config_of_bms(), "bookinfo-mesh:databasePassword": PLAINTEXT}, [])
    with pytest.raises(pulumi.RunError, match="databasePassword: holds plaintext") as error:
        settings_from_engine()
    assert PLAINTEXT not in str(error.value)


def test_the_config_edge_reads_the_password_as_a_secret_output(engine_config):
    from components.config import load_secrets, settings_from_engine

    engine_config({**_engine_config_of_bms(), "bookinfo-mesh:databasePassword": PLAINTEXT},
                  ["bookinfo-mesh:databasePassword"])
    settings = settings_from_engine()
    assert PLAINTEXT not in repr(settings)
    seen = {}

    @pulumi.runtime.test
    def read():
        secrets = load_secrets(settings)
        seen["keys"] = sorted(secrets)
        password = secrets["databasePassword"]
        return pulumi.Output.all(password.is_secret(), password).apply(
            lambda values: seen.update(secret=values[0], value=values[1]))

    read()
    assert seen == {"keys": ["databasePassword"], "secret": True, "value": PLAINTEXT}


def test_the_program_under_the_engine_stops_without_the_password_and_registers_nothing(engine_config):
    """`pulumi preview --stack bms` before `pulumi config set --secret`: the program
    run as the language host runs it, outside meshplan, stops with one line."""
    from meshplan.render import sdk

    captured = sdk.Captured(records=[], reads=[])
    engine_config(_engine_config_of_bms(), [], captured)

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    with pytest.raises(pulumi.RunError) as caught:
        program()
    assert str(caught.value) == NOT_SET
    assert [r["type"] for r in captured.records] == ["pulumi:pulumi:Stack"]


def test_settings_parsed_offline_cannot_reach_the_stand_in_under_the_engine(engine_config, monkeypatch):
    """Even handed the settings of an offline parse, which let the password be
    missing, the program's config edge refuses outside an offline render."""
    from components.config import load_secrets
    from meshplan.render.engine import read_stack_settings

    monkeypatch.chdir(ROOT)
    settings, _, _ = read_stack_settings("Pulumi.bms.yaml", "bms")
    assert settings.secrets_not_set == ("databasePassword",)
    engine_config(_engine_config_of_bms(), [])
    with pytest.raises(pulumi.RunError) as caught:
        load_secrets(settings)
    assert str(caught.value) == NOT_SET


def test_offline_the_config_edge_gives_a_secret_output_holding_the_stand_in(engine_config):
    from components.config import load_secrets, settings_from_engine, unset_secrets_as_placeholders

    engine_config(_engine_config_of_bms(), [])
    seen = {}

    @pulumi.runtime.test
    def read():
        with unset_secrets_as_placeholders():
            settings = settings_from_engine()
            password = load_secrets(settings)["databasePassword"]
        seen["not_set"] = settings.secrets_not_set
        return pulumi.Output.all(password.is_secret(), password).apply(
            lambda values: seen.update(secret=values[0], value=values[1]))

    read()
    assert seen == {"not_set": ("databasePassword",), "secret": True, "value": SECRET_NOT_SET_SHOWN}

"""`Pulumi.yaml` and every stack file pass what the Pulumi CLI checks before the
program runs, for every CLI from 3.186.0 (the oldest supported) to today. The
rules themselves are tested on the defects they exist to catch."""
from __future__ import annotations

import copy

import pytest

from tests.conftest import EXAMPLES, ROOT, STACKS
from tests.pulumi_cli import (BEFORE_OBJECT, NEWEST, OLDEST_SUPPORTED, load_yaml, project_errors,
                              schema_errors, stack_errors)
from tests.upstream import upstream

PROJECT = load_yaml(ROOT / "Pulumi.yaml")
STACK_FILES = [ROOT / f"Pulumi.{s}.yaml" for s in STACKS] + sorted(EXAMPLES.rglob("*.yaml"))


def stack_name(path) -> str:
    return path.stem.removeprefix("Pulumi.")


@pytest.mark.parametrize("schema", [NEWEST, OLDEST_SUPPORTED])
def test_the_project_file_passes_the_schema_of_every_supported_cli(schema):
    assert schema_errors(PROJECT, upstream(f"pulumi/{schema}")) == []


def test_a_cli_older_than_3_186_refuses_the_project_file_for_its_object_config():
    errors = schema_errors(PROJECT, upstream(f"pulumi/{BEFORE_OBJECT}"))
    assert errors and all("/config/" in e for e in errors)


def test_the_project_declarations_are_valid():
    assert project_errors(PROJECT) == []


def test_no_secret_key_is_declared_with_a_plaintext_default():
    for key, declared in PROJECT["config"].items():
        if isinstance(declared, dict) and declared.get("secret"):
            assert "default" not in declared and "value" not in declared, key


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_stack_and_example_passes_the_cli_config_rules(path):
    assert stack_errors(PROJECT, stack_name(path), load_yaml(path)) == []


# The rules catch what they exist for.

def test_a_secret_key_with_a_default_fails_every_stack_that_does_not_set_it():
    project = copy.deepcopy(PROJECT)
    project["config"]["bookinfo-mesh:databasePassword"] = {"type": "string", "secret": True, "default": ""}
    assert stack_errors(project, "dev", load_yaml(ROOT / "Pulumi.dev.yaml")) == [
        "Stack 'dev' with configuration key 'databasePassword' must be encrypted as it's secret"]


def test_a_secret_key_without_a_default_is_required_on_every_stack():
    project = copy.deepcopy(PROJECT)
    project["config"]["bookinfo-mesh:databasePassword"] = {"type": "string", "secret": True}
    assert stack_errors(project, "prod", load_yaml(ROOT / "Pulumi.prod.yaml")) == [
        "Stack 'prod' is missing configuration value 'bookinfo-mesh:databasePassword'"]


def test_a_value_of_the_wrong_type_is_refused():
    document = {"config": {"bookinfo-mesh:istio": ["not", "an", "object"]}}
    assert stack_errors(PROJECT, "x", document) == ["Stack 'x' with configuration key 'istio' must be of type 'object'"]


def test_a_default_of_the_wrong_type_is_refused():
    project = copy.deepcopy(PROJECT)
    project["config"]["bookinfo-mesh:istio"]["default"] = "1.30.3"
    assert project_errors(project) == [
        "The default value specified for configuration key 'bookinfo-mesh:istio' is not of the expected type 'object'"]

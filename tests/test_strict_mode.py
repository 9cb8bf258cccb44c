"""`kubernetes:strictMode` on stacks over clusters, and the context each cluster's
provider is given (strict mode requires one): pulumi-kubernetes reads the key from
the stack config (`provider/pkg/provider/provider.go` `CheckConfig`, `"true"` only)
and then refuses the default provider and any Provider without kubeconfig and
context."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshplan.render.engine import run_program
from model.errors import ConfigError
from model.multicluster.secrets import kubeconfig_context
from model.names import SECRET_SHOWN
from model.settings import SecretValue, parse_settings, read_stack_file
from tests.multicluster_stacks import refused_run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "multicluster" / "primary-remote-multi-network.yaml"
TOKEN = "tok-do-not-show-3b1f"


def meshplan(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meshplan", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ})


def example_with(tmp_path: Path, strict_line: str | None, *, source: Path = EXAMPLE, name: str = "pr") -> Path:
    """The example with its `kubernetes:strictMode` line replaced (None: removed)."""
    lines = [line for line in source.read_text().splitlines() if "kubernetes:strictMode" not in line]
    at = lines.index("config:") + 1
    if strict_line is not None:
        lines.insert(at, f"  kubernetes:strictMode: {strict_line}")
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def kubeconfig(*contexts: str, current: str | None = None) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Config",
                       "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.10:6443"}}],
                       "users": [{"name": "u", "user": {"token": TOKEN}}],
                       "contexts": [{"name": name, "context": {"cluster": "c", "user": "u"}} for name in contexts],
                       **({"current-context": current} if current else {})})


def test_both_examples_turn_strict_mode_on_and_render():
    for path in sorted((ROOT / "examples" / "multicluster").glob("*.yaml")):
        text = path.read_text()
        assert '\n  kubernetes:strictMode: "true"\n' in text, path.name
        done = meshplan("render", "--config", str(path), "--format", "json")
        assert done.returncode == 0, done.stderr


def test_every_provider_is_given_a_context_with_its_kubeconfig():
    done = meshplan("render", "--config", str(EXAMPLE), "--format", "json")
    providers = json.loads(done.stdout)["providers"]
    assert providers and all(p["inputs"]["context"] == p["inputs"]["kubeconfig"] for p in providers)


WITHOUT = ("a stack over clusters gives every resource its cluster's provider, and strict mode makes the provider "
           "refuse one without: pulumi config set kubernetes:strictMode true")


@pytest.mark.parametrize("line, message", [
    (None, f"kubernetes:strictMode: not set; {WITHOUT}"),
    ('"false"', f'kubernetes:strictMode = "false": {WITHOUT}'),
    # The engine hands the program every config value as a string, as the message shows it.
    ("false", f'kubernetes:strictMode = "false": {WITHOUT}'),
    ('"yes"', 'kubernetes:strictMode = "yes": expected "true" or "false" (the provider turns strict mode on for '
              '"true" only)'),
    ("1", 'kubernetes:strictMode = "1": expected "true" or "false" (the provider turns strict mode on for "true" only)'),
    ("[true]", 'kubernetes:strictMode = "[true]": expected "true" or "false" (the provider turns strict mode on for '
               '"true" only)'),
])
def test_a_stack_over_clusters_without_strict_mode_is_refused_in_one_line(tmp_path, line, message):
    path = example_with(tmp_path, line)
    done = meshplan("render", "--config", str(path))
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: {path}: {message}\n")


def test_strict_mode_written_as_a_yaml_boolean_is_read_as_the_cli_writes_it(tmp_path):
    assert meshplan("render", "--config", str(example_with(tmp_path, "true"))).returncode == 0


def test_a_one_cluster_stack_in_strict_mode_is_refused_for_its_default_provider(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text((ROOT / "Pulumi.dev.yaml").read_text().replace("config:\n", 'config:\n  kubernetes:strictMode: "true"\n', 1))
    done = meshplan("render", "--config", str(path))
    assert done.returncode == 1
    assert done.stderr.strip() == (f'error: {path}: kubernetes:strictMode = "true": a stack without '
                                   "bookinfo-mesh:clusters deploys through the default provider, which strict mode "
                                   "refuses; unset it or list the cluster under bookinfo-mesh:clusters")


def local_context_stack(tmp_path: Path, strict_line: str | None) -> Path:
    text = EXAMPLE.read_text().replace("bookinfo-mesh:environment: staging", "bookinfo-mesh:environment: dev")
    text = text.replace("kubeconfig: {secret: kubeconfig-west}", "kubeconfig: {context: kind-west}")
    source = tmp_path / "source.yaml"
    source.write_text(text)
    return example_with(tmp_path, strict_line, source=source, name="kind")


def test_a_cluster_read_from_a_local_context_cannot_run_in_strict_mode(tmp_path):
    path = local_context_stack(tmp_path, '"true"')
    done = meshplan("render", "--config", str(path))
    assert done.returncode == 1
    assert done.stderr.strip() == (f'error: {path}: kubernetes:strictMode = "true": cluster west reads the local '
                                   "kubeconfig's context kind-west, and strict mode requires a kubeconfig for each "
                                   "provider; give it kubeconfig {secret: ...} or leave strict mode off")
    assert meshplan("render", "--config", str(local_context_stack(tmp_path, None))).returncode == 0


def test_the_program_judges_strict_mode_from_the_config_the_engine_hands_it(tmp_path):
    """meshplan parses the project keys only; the refusal comes from the program,
    as it would under `pulumi preview`."""
    path = example_with(tmp_path, None)
    raw = read_stack_file(str(path))
    settings = parse_settings(raw, stack="pr", source=str(path), unset_secrets_allowed=True)
    with pytest.raises(ConfigError, match="kubernetes:strictMode: not set"):
        run_program(raw, settings=settings, stack="pr", source=str(path), provider_config={})
    rendered = run_program(raw, settings=settings, stack="pr", source=str(path),
                           provider_config={"strictMode": "true"})
    assert rendered.providers()


@pytest.mark.parametrize("text, expected", [
    (kubeconfig("east-admin", "other", current="east-admin"), "east-admin"),
    (kubeconfig("only"), "only"),
])
def test_a_provider_takes_the_current_context_or_the_only_one(text, expected):
    assert kubeconfig_context(text, file="f", path="p") == expected


@pytest.mark.parametrize("text, message", [
    (kubeconfig("a", "b"), "f: p: no current-context, and 2 contexts to choose from (a, b); set current-context to "
                           "the one this cluster's provider uses"),
    (kubeconfig("a", current="gone"), "f: p: current-context gone names no context of the kubeconfig (it has: a)"),
    (kubeconfig(), "f: p: no current-context, and 0 contexts to choose from (none)"),
    ("[a, b", "f: p: not a kubeconfig (YAML does not parse)"),
    ("just text", "f: p: not a kubeconfig mapping"),
])
def test_a_kubeconfig_no_context_can_be_taken_from_is_refused_in_one_line_without_its_credentials(text, message):
    with pytest.raises(ConfigError) as refused:
        kubeconfig_context(text, file="f", path="p")
    assert str(refused.value).startswith(message) and TOKEN not in str(refused.value)


def test_a_kubeconfig_without_a_usable_context_stops_the_run_before_anything_is_registered():
    raw = read_stack_file(str(EXAMPLE))
    raw["kubeconfig-east"] = SecretValue(kubeconfig("a", "b"))
    raw["kubeconfig-west"] = SecretValue(kubeconfig("west"))
    raw["cacerts-east"] = SecretValue(SECRET_SHOWN)
    refused, registered = refused_run(raw, source=EXAMPLE)
    assert str(refused).endswith("bookinfo-mesh:kubeconfig-east: no current-context, and 2 contexts to choose "
                                 "from (a, b); set current-context to the one this cluster's provider uses")
    assert TOKEN not in str(refused) and registered == []

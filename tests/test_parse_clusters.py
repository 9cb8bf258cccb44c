"""`parse_clusters`: the multi-cluster settings (`mesh`, `clusters`, `app.placement`)
parsed from a stack file, every refusal one exact line (tests/corpus/cluster_cases.py),
and what an accepted stack parses to."""
from __future__ import annotations

import pytest

from model.apps import APPLICATIONS
from model.errors import ConfigError
from model.settings import CONFIG_KEYS, parse_settings, read_stack_file
from model.settings.parse_clusters import PENDING_KEYS, parse_clusters
from model.settings.reader import Cursor
from tests.corpus.cluster_cases import CLUSTER_STACKS, EAST, MULTI_PRIMARY, OK, PRIMARY_REMOTE, stack


def parsed(path, *, unset_secrets_allowed: bool = False):
    config = read_stack_file(str(path))
    root = Cursor.root(config, source=str(path), path="bookinfo-mesh:")
    data_plane = (config.get("istio") or {}).get("dataPlane", "sidecar")
    return parsed_from(root, config, data_plane, unset_secrets_allowed)


def parsed_from(root, config, data_plane, unset_secrets_allowed):
    return parse_clusters(root, application=APPLICATIONS[(config.get("app") or {}).get("name", "bookinfo")],
                          environment=config.get("environment", "dev"), data_plane=data_plane, stack="test",
                          install=(config.get("istio") or {}).get("install", True),
                          unset_secrets_allowed=unset_secrets_allowed)


def outcome(path) -> str:
    try:
        parsed(path)
    except ConfigError as error:
        assert "\n" not in str(error)
        return str(error).replace(str(path), "{file}")
    return OK


@pytest.mark.parametrize("name", list(CLUSTER_STACKS))
def test_cluster_case_ends_in_its_one_line(name, tmp_path):
    content, expected = CLUSTER_STACKS[name]
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(content)
    assert outcome(path) == expected


def test_primary_remote_parses_to_its_clusters_mesh_and_placement(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(stack(PRIMARY_REMOTE, extra="  bookinfo-mesh:app: {placement: {reviews: {v1: [east], v3: [west]}}}\n"))
    settings = parsed(path)
    east, west = settings.clusters
    assert (settings.mesh.id, settings.mesh.trust_domain, settings.mesh.trust_mode) == ("mesh1", "cluster.local", "provided")
    assert (east.name, east.role, east.network, east.east_west.address, east.kubeconfig.secret) == (
        "east", "primary", "net-east", "34.75.71.237", "kubeconfig-east")
    assert (west.role, west.control_plane, west.api_server, west.east_west.service_type) == (
        "remote", "east", "https://10.1.0.10:6443", "LoadBalancer")
    assert settings.remotes_of("east") == (west,)
    assert settings.clusters_running("reviews", "v3") == ("west",)
    # A version the placement does not name runs in every cluster.
    assert settings.clusters_running("reviews", "v2") == ("east", "west")
    assert settings.clusters_running("ratings", "v1") == ("east", "west")


def test_no_clusters_is_a_one_cluster_stack(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text("config:\n  bookinfo-mesh:environment: dev\n")
    assert parsed(path) is None


def test_placement_without_clusters_is_refused(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text("config:\n  bookinfo-mesh:app: {placement: {reviews: {v1: [east]}}}\n")
    assert outcome(path) == ("{file}: bookinfo-mesh:app.placement = {\"reviews\": {\"v1\": [\"east\"]}}: needs "
                             "bookinfo-mesh:clusters: a one-cluster stack runs every version there")


def test_an_offline_render_lists_the_secrets_not_set_instead_of_stopping(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(stack(MULTI_PRIMARY, secrets=("kubeconfig-east",)))
    assert parsed(path, unset_secrets_allowed=True).secrets_not_set == ("kubeconfig-west", "cacerts-east", "cacerts-west")


def test_a_secret_key_from_the_engine_is_accepted_only_as_a_secret(tmp_path):
    from model.settings import SecretValue
    config = {"environment": "staging", "mesh": {"trust": {"mode": "selfSigned"}},
              "clusters": {"east": {"role": "primary", "network": "n"}}, "kubeconfig-east": SecretValue("[secret]")}
    root = Cursor.root(config, source="Pulumi.s.yaml", path="bookinfo-mesh:")
    assert parsed_from(root, config, "sidecar", False).clusters[0].kubeconfig.secret == "kubeconfig-east"


def test_the_keys_stay_out_of_the_accepted_keys_until_the_program_builds_them(tmp_path):
    """A stack using them must be refused as unknown keys, not render as one cluster."""
    assert not {"mesh", "clusters"} & set(CONFIG_KEYS[""])
    assert "placement" not in CONFIG_KEYS["app"]
    assert not set(PENDING_KEYS) & set(CONFIG_KEYS)
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(stack(EAST, mesh="{trust: {mode: selfSigned}}", secrets=("kubeconfig-east",)))
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:mesh: unknown key"):
        parse_settings(read_stack_file(str(path)), stack="test", source=str(path))

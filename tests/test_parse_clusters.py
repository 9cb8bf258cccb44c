"""`parse_clusters`: the multi-cluster settings (`mesh`, `clusters`, `app.placement`)
parsed from a stack file, every refusal one exact line (tests/corpus/cluster_cases.py),
and what an accepted stack parses to."""
from __future__ import annotations

import pytest

from model.apps import APPLICATIONS
from model.errors import ConfigError
from model.settings import CONFIG_KEYS, parse_settings, read_stack_file
from model.settings import SecretValue
from model.settings.parse_clusters import parse_clusters
from model.settings.reader import Cursor
from tests.corpus.cluster_cases import (CLUSTER_STACKS, SETTINGS_ONLY_STACKS, EAST, MULTI_PRIMARY, OK, PRIMARY_REMOTE,
                                       WEST_REMOTE, bms, stack)


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


def test_each_store_runs_in_the_cluster_placed_or_else_in_the_first_primary(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(stack(MULTI_PRIMARY, extra=bms("{bookinfo-kafka: [west]}")))
    settings = parsed(path)
    assert settings.store_placement == {"bookinfo-db": "east", "bookinfo-kafka": "west"}
    # The first primary in the map's order, not the first cluster: a remote listed first is skipped.
    path.write_text(stack(f"{WEST_REMOTE}\n{EAST}", extra=bms("{}")))
    assert parsed(path).store_cluster("bookinfo-db") == "east"


def test_a_primary_may_read_its_gateway_address_instead_of_stating_it(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(stack(PRIMARY_REMOTE.replace("{address: 34.75.71.237}", "{discover: true}")))
    east, west = parsed(path).clusters
    assert (east.east_west.service_type, east.east_west.address, east.east_west.discover) == (
        "LoadBalancer", None, True)
    assert west.east_west.discover is False


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


def test_parse_settings_reads_the_cluster_keys_and_their_secret_keys(tmp_path):
    assert {"mesh", "clusters"} <= set(CONFIG_KEYS[""]) and "placement" in CONFIG_KEYS["app"]
    assert {"mesh", "mesh.trust", "clusters.<cluster>", "clusters.<cluster>.kubeconfig",
            "clusters.<cluster>.eastWest"} <= set(CONFIG_KEYS)
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(stack(PRIMARY_REMOTE, secrets=("kubeconfig-east", "kubeconfig-west")))
    settings = parse_settings(read_stack_file(str(path)), stack="test", source=str(path),
                              unset_secrets_allowed=True)
    assert [c.name for c in settings.multicluster.clusters] == ["east", "west"]
    assert settings.secrets_not_set == ("cacerts-east",)
    # A deploy stops at the first secret not set, naming it.
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:cacerts-east: not set; set it with pulumi config set "
                                          r"--secret cacerts-east"):
        parse_settings(read_stack_file(str(path)), stack="test", source=str(path))


def test_a_secret_key_no_cluster_names_stays_an_unknown_key(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(stack(MULTI_PRIMARY, secrets=("kubeconfig-east", "kubeconfig-west", "cacerts-east",
                                                  "cacerts-west", "kubeconfig-north")))
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:kubeconfig-north: unknown key"):
        parse_settings(read_stack_file(str(path)), stack="test", source=str(path))


def test_mesh_without_clusters_is_refused(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text("config:\n  bookinfo-mesh:mesh: {id: mesh1}\n")
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:mesh = .*needs bookinfo-mesh:clusters"):
        parse_settings(read_stack_file(str(path)), stack="test", source=str(path))


def test_the_engine_hands_a_cluster_secret_key_over_as_a_mark_never_its_plaintext():
    from model.settings import from_engine_config
    plaintext = "apiVersion: v1\nusers: [{name: x, user: {token: s3cr3t}}]"
    engine = {"bookinfo-mesh:environment": "staging", "bookinfo-mesh:mesh": '{"trust": {"mode": "selfSigned"}}',
              "bookinfo-mesh:clusters": '{"east": {"role": "primary", "network": "n"}}',
              "bookinfo-mesh:kubeconfig-east": plaintext}
    project = from_engine_config(engine, {"bookinfo-mesh:kubeconfig-east"})
    assert isinstance(project["kubeconfig-east"], SecretValue) and "s3cr3t" not in repr(project)
    settings = parse_settings(project, stack="test", source="Pulumi.test.yaml")
    assert settings.multicluster.clusters[0].kubeconfig.secret == "kubeconfig-east"
    # Not marked secret by the engine: refused as plaintext, the value never echoed.
    with pytest.raises(ConfigError, match="holds plaintext") as refused:
        parse_settings(from_engine_config(engine, set()), stack="test", source="Pulumi.test.yaml")
    assert "s3cr3t" not in str(refused.value)


THROUGH_PARSE_SETTINGS_OTHERWISE = {
    # The one-cluster rule that ambient needs HTTPRoutes is checked first.
    "ambient with two clusters": "{file}: bookinfo-mesh:istio.dataPlane = \"ambient\": istio.dataPlane=ambient needs "
                                 "traffic.api=gateway-api: VirtualService with waypoints is Alpha in Istio 1.30 and "
                                 "mixing it with HTTPRoute is undefined",
}


@pytest.mark.parametrize("name", list(CLUSTER_STACKS))
def test_parse_settings_ends_each_cluster_case_in_the_same_line(name, tmp_path):
    content, expected = CLUSTER_STACKS[name]
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(content)
    try:
        parse_settings(read_stack_file(str(path)), stack="test", source=str(path))
        got = OK
    except ConfigError as error:
        got = str(error).replace(str(path), "{file}")
    assert got == THROUGH_PARSE_SETTINGS_OTHERWISE.get(name, expected)


def test_ambient_over_two_clusters_is_refused_by_parse_settings(tmp_path):
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(stack(MULTI_PRIMARY, extra="  bookinfo-mesh:istio: {dataPlane: ambient}\n"
                                               "  bookinfo-mesh:traffic: {api: gateway-api}\n"))
    with pytest.raises(ConfigError, match=r"bookinfo-mesh:istio.dataPlane = \"ambient\": ambient with 2 clusters is "
                                          r"not supported"):
        parse_settings(read_stack_file(str(path)), stack="test", source=str(path))


@pytest.mark.parametrize("name", list(SETTINGS_ONLY_STACKS))
def test_parse_settings_refuses_what_the_clusters_cannot_route(name, tmp_path):
    content, expected = SETTINGS_ONLY_STACKS[name]
    path = tmp_path / "Pulumi.test.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as refused:
        parse_settings(read_stack_file(str(path)), stack="test", source=str(path))
    assert str(refused.value).replace(str(path), "{file}") == expected

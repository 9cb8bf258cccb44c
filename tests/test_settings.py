"""The settings parser: defaults, per-environment posture, and the one-line error for
every kind of bad input. Property-based tests throw random configs at it."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from model.errors import ConfigError
from model.settings import (
    DEFAULT_ISTIO_VERSION,
    Destination,
    HeaderMatch,
    load_stack_file,
    parse_settings,
    read_stack_file,
)
from tests.conftest import settings_from


def error_of(config: dict) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        settings_from(config)
    return caught.value


def test_empty_config_gives_production_posture_and_upstream_versions():
    s = settings_from({})
    assert s.environment == "prod"
    assert s.app.restricted_pods is True
    assert s.istio.outbound_traffic_policy == "REGISTRY_ONLY"
    assert s.istio.protect_crds is True
    assert s.istio.version == DEFAULT_ISTIO_VERSION
    assert s.services["reviews"].versions == ("v1", "v2", "v3")
    assert s.services["reviews"].default_route.destinations == (Destination(version="v1", weight=None),)


def test_dev_environment_relaxes_posture_and_turns_addons_on():
    s = settings_from({"environment": "dev"})
    assert (s.app.replicas, s.app.restricted_pods, s.istio.kiali, s.istio.prometheus) == (1, False, True, True)
    assert s.istio.ingress_service_type == "NodePort"
    assert s.istio.protect_crds is False


def test_explicit_values_override_environment_defaults():
    s = settings_from({"environment": "prod", "app": {"replicas": 5, "restrictedPods": False},
                       "istio": {"protectCrds": False, "outboundTrafficPolicy": "ALLOW_ANY"}})
    assert (s.app.replicas, s.app.restricted_pods) == (5, False)
    assert (s.istio.protect_crds, s.istio.outbound_traffic_policy) == (False, "ALLOW_ANY")


def test_weights_keep_the_order_written_and_are_integers():
    s = settings_from({"services": {"reviews": {"weights": {"v3": 20, "v1": 80}}}})
    assert s.services["reviews"].default_route.destinations == (
        Destination(version="v3", weight=20), Destination(version="v1", weight=80))


def test_header_routes_come_before_the_default_route():
    s = settings_from({"services": {"reviews": {
        "routes": [{"match": {"headers": {"end-user": {"exact": "jason"}}}, "to": "v2"}], "to": "v1"}}})
    first, default = s.services["reviews"].routes
    assert first.matches[0].headers == (HeaderMatch(name="end-user", kind="exact", value="jason"),)
    assert first.destinations == (Destination(version="v2", weight=None),)
    assert default.matches == () and default.destinations[0].version == "v1"


def test_versions_are_kept_in_the_application_order():
    s = settings_from({"services": {"reviews": {"versions": ["v3", "v1"]}}})
    assert s.services["reviews"].versions == ("v1", "v3")


def test_ratings_v2_brings_its_mongodb_backing_store():
    assert "mongodb" not in settings_from({}).services
    s = settings_from({"services": {"ratings": {"versions": ["v1", "v2"]}}})
    assert s.services["mongodb"].versions == ("v1",)
    assert s.services["mongodb"] not in s.routed_services


def test_a_named_revision_is_kept_and_default_means_none():
    assert settings_from({"istio": {"revision": "1-30-3"}}).istio.revision == "1-30-3"
    assert settings_from({"istio": {"revision": "default"}}).istio.revision == ""


@pytest.mark.parametrize(
    "config, path, value_shown, allowed",
    [
        ({"servicez": {}}, "bookinfo-mesh:servicez", None, "allowed: environment"),
        ({"services": {"reviews": {"weight": {"v1": 1}}}}, "bookinfo-mesh:services.reviews.weight", None,
         "allowed: versions"),
        ({"services": {"reviews": {"weights": {"v1": 80, "v4": 20}}}},
         "bookinfo-mesh:services.reviews.weights.v4", '"v4"', "deployed: v1, v2, v3"),
        ({"services": {"reviews": {"versions": ["v1"], "weights": {"v1": 50, "v2": 50}}}},
         "bookinfo-mesh:services.reviews.weights.v2", '"v2"', "deployed: v1"),
        ({"services": {"reviews": {"weights": {"v1": -10, "v2": 110}}}},
         "bookinfo-mesh:services.reviews.weights.v1", "-10", "at least 0"),
        ({"services": {"reviews": {"weights": {"v1": 0, "v2": 0}}}},
         "bookinfo-mesh:services.reviews.weights", '{"v1": 0, "v2": 0}', "at least one must be above 0"),
        ({"services": {"reviews": {"weights": {"v1": "eighty"}}}},
         "bookinfo-mesh:services.reviews.weights.v1", '"eighty"', "whole number"),
        ({"services": {"reviews": {"weights": {"v1": True}}}},
         "bookinfo-mesh:services.reviews.weights.v1", "true", "whole number"),
        ({"services": {"reviews": {"versions": ["v9"]}}},
         "bookinfo-mesh:services.reviews.versions[0]", '"v9"', "allowed: v1, v2, v3"),
        ({"services": {"reviewz": {}}}, "bookinfo-mesh:services.reviewz", None, "allowed: details, ratings"),
        ({"services": {"reviews": {"to": "v1", "weights": {"v1": 1}}}},
         "bookinfo-mesh:services.reviews.to", None, "not both"),
        ({"environment": "production"}, "bookinfo-mesh:environment", '"production"', "allowed: dev, staging, prod"),
        ({"istio": {"outboundTrafficPolicy": "DENY"}}, "bookinfo-mesh:istio.outboundTrafficPolicy", '"DENY"',
         "allowed: ALLOW_ANY, REGISTRY_ONLY"),
        ({"istio": {"version": "latest"}}, "bookinfo-mesh:istio.version", '"latest"', "like 1.30.3"),
        ({"istio": {"revision": "Canary_1"}}, "bookinfo-mesh:istio.revision", '"Canary_1"', "revision name"),
        ({"istio": {"istiod": {"replicas": 0}}}, "bookinfo-mesh:istio.istiod.replicas", "0", "at least 1"),
        ({"istio": {"istiod": {"resources": {"requests": {"cpu": "lots"}}}}},
         "bookinfo-mesh:istio.istiod.resources.requests.cpu", '"lots"', "quantity"),
        ({"app": {"name": "petstore"}}, "bookinfo-mesh:app.name", '"petstore"', "allowed: bookinfo"),
        ({"app": {"image": {"tag": ""}}}, "bookinfo-mesh:app.image.tag", '""', "image tag"),
        ({"ingress": {"hosts": []}}, "bookinfo-mesh:ingress.hosts", "[]", "non-empty list"),
        ({"ingress": {"hosts": ["Bad Host"]}}, "bookinfo-mesh:ingress.hosts[0]", '"Bad Host"', "host name"),
        ({"services": {"reviews": {"routes": [{"to": "v2"}]}}}, "bookinfo-mesh:services.reviews.routes[0]",
         None, "needs a match"),
        ({"services": {"reviews": {"routes": [{"match": {"headers": {"end-user": {"is": "x"}}}, "to": "v2"}]}}},
         "bookinfo-mesh:services.reviews.routes[0].match.headers.end-user.is", None, "exact, prefix, regex"),
        ({"services": {"reviews": {"routes": [{"match": {"uri": {"regex": "("}}, "to": "v2"}]}}},
         "bookinfo-mesh:services.reviews.routes[0].match.uri.regex", '"("', "not an RE2 regex"),
    ],
)
def test_bad_config_gives_one_line_naming_file_path_value_and_what_is_allowed(config, path, value_shown, allowed):
    message = str(error_of(config))
    assert "\n" not in message
    assert message.startswith(f"Pulumi.test.yaml: {path}")
    if value_shown is not None:
        assert f"{path} = {value_shown}:" in message
    assert allowed in message


def test_a_misspelt_key_is_refused_with_the_key_probably_meant():
    assert "unknown key; did you mean weights? allowed:" in str(error_of({"services": {"reviews": {"weight": {}}}}))
    assert "did you mean services?" in str(error_of({"servics": {}}))
    assert "did you mean" not in str(error_of({"zzz": {}}))


def test_stack_file_with_broken_yaml_names_file_and_line(tmp_stack):
    path = tmp_stack("config:\n  bookinfo-mesh:services:\n    reviews: [\n")
    with pytest.raises(ConfigError) as caught:
        read_stack_file(str(path))
    assert str(caught.value).startswith(f"{path}: line 4, column 1: invalid YAML")


def test_stack_file_ignores_provider_keys_and_refuses_bare_keys_as_the_cli_does(tmp_stack):
    path = tmp_stack("config:\n  kubernetes:context: kind\n  bookinfo-mesh:config:environment: dev\n")
    assert read_stack_file(str(path)) == {"environment": "dev"}
    assert load_stack_file(str(path), stack="test").environment == "dev"
    bare = tmp_stack("config:\n  environment: dev\n")
    with pytest.raises(ConfigError, match="could not parse environment as a configuration key"):
        read_stack_file(str(bare))


def test_secure_values_are_read_as_opaque_secrets(tmp_stack):
    path = tmp_stack("config:\n  bookinfo-mesh:app:\n    token:\n      secure: v1:abc\n")
    raw = read_stack_file(str(path))
    assert raw["app"]["token"] == "[secret]" and "v1:abc" not in str(raw)


def test_missing_stack_file_is_one_line():
    with pytest.raises(ConfigError, match=r"^nope\.yaml: no such stack file$"):
        read_stack_file("nope.yaml")


# ---------------------------------------------------------------- property-based

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.floats(allow_nan=False),
                     st.text(max_size=8), st.sampled_from(["v1", "v2", "v3", "v4", "dev", "prod", "*", "0.5s"]))
_keys = st.sampled_from(["environment", "istio", "app", "services", "ingress", "reviews", "ratings",
                         "details", "productpage", "versions", "weights", "to", "routes", "match",
                         "headers", "end-user", "exact", "v1", "v2", "v3", "replicas", "hosts",
                         "install", "revision", "istiod", "name", "image", "tag", "bogus"])
_values = st.recursive(_scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(_keys, children, max_size=4)), max_leaves=12)


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=5))
def test_random_configs_give_settings_or_the_one_line_error_never_an_exception(config):
    try:
        parse_settings(config, stack="fuzz", source="Pulumi.fuzz.yaml")
    except ConfigError as error:
        message = str(error)
        assert message.startswith("Pulumi.fuzz.yaml") and "\n" not in message


_weights = st.dictionaries(st.sampled_from(["v1", "v2", "v3"]), st.integers(-3, 120), min_size=1, max_size=3)


@hypothesis_settings(max_examples=300, deadline=None)
@given(_weights)
def test_random_weights_are_accepted_exactly_when_istio_would_accept_them(weights):
    istio_accepts = all(w >= 0 for w in weights.values()) and (len(weights) == 1 or sum(weights.values()) > 0)
    try:
        s = settings_from({"services": {"reviews": {"weights": weights}}})
    except ConfigError:
        assert not istio_accepts
    else:
        assert istio_accepts
        assert {d.version: d.weight for d in s.services["reviews"].default_route.destinations} == weights


def test_a_config_cursor_names_its_own_key_path_in_a_refusal():
    from model.errors import ConfigError
    from model.settings.reader import Cursor

    root = Cursor.root({"services": {"reviews": {"weight": -1}}}, source="Pulumi.x.yaml", path="bookinfo-mesh:")
    with pytest.raises(ConfigError) as error:
        root["services"]["reviews"].mapping().get("weight", 0, lambda c: c.integer(minimum=0))
    assert str(error.value) == ("Pulumi.x.yaml: bookinfo-mesh:services.reviews.weight = -1: "
                                "expected a whole number of at least 0")
    assert root["app"].mapping().get("replicas", 3, lambda c: c.integer()) == 3


def test_a_whole_number_written_as_a_float_is_read_as_that_integer_and_a_fraction_is_refused():
    # JSON and YAML writers may spell 2 as 2.0; it means the same count of replicas or weight.
    s = settings_from({"istio": {"istiod": {"replicas": 2.0}},
                       "services": {"reviews": {"weights": {"v1": 90.0, "v3": 10.0}}}})
    assert s.istio.istiod_replicas == 2 and type(s.istio.istiod_replicas) is int
    assert [(d.version, d.weight, type(d.weight)) for d in s.services["reviews"].default_route.destinations] == [
        ("v1", 90, int), ("v3", 10, int)]
    assert str(error_of({"istio": {"istiod": {"replicas": 2.5}}})) == (
        "Pulumi.test.yaml: bookinfo-mesh:istio.istiod.replicas = 2.5: expected a whole number")


@pytest.mark.parametrize("config, path, value", [
    ({"services": {"reviews": {"versions": ["v1", "v3", "v1"]}}}, "services.reviews.versions[2]", '"v1"'),
    ({"ingress": {"hosts": ["bookinfo.example.com", "bookinfo.example.com"]}}, "ingress.hosts[1]",
     '"bookinfo.example.com"'),
])
def test_a_value_listed_twice_is_refused_at_its_second_place(config, path, value):
    assert str(error_of(config)) == f"Pulumi.test.yaml: bookinfo-mesh:{path} = {value}: listed twice"

"""Valid stack configs, generated section by section, render into objects the
cluster accepts: every Istio object passes Istio's CRD schemas, checked by the
project's own schema rule (what `meshplan check --crds` runs) on the published
`crd-all.gen.yaml` that `make upstream` fetches (and, where the strict checker kept
beside the reference copy is present, by that too), every name the Kubernetes rule
for its field, every Helm value key its chart, and the traffic shares of every route
sum to 100. Without the CRD file the test skips (fails under
`BOOKINFO_MESH_REQUIRE_UPSTREAM=1`), as every test of an upstream artifact does.

Sections generated: services (deployed versions, a default route as one version or
weights, header and URI match routes, faults, timeouts, retries, mirrors), egress
hosts up to the maximal label and name lengths, the istio revision, ingress hosts and
TLS. Not yet: stores, layers, traffic policies, rollout.

300 examples by default; `BOOKINFO_MESH_EXAMPLES` (CI: 2000) sets how many. No
example database: every run draws afresh, and nothing is written to the checkout."""
from __future__ import annotations

import importlib.util
import os
import sys
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from jsonschema import Draft202012Validator

from meshplan.render.engine import run_program
from model.analysis import CATALOGUE, analyze
from model.settings import SecretValue, parse_settings
from model.object_names import name_problems, release_problems
from tests.test_helm_values import chart, readable_defaults, unknown_or_mistyped
from tests.upstream import SHARED_TOOLS, upstream

CRDS = "istio-1.30.3/crd-all.gen.yaml"
SCHEMA_RULES = tuple(code for code, r in CATALOGUE.items() if r.istio == "IST0106")
"""The project's CRD schema check (fields, types, enums, CEL rules)."""
EXAMPLES = int(os.environ.get("BOOKINFO_MESH_EXAMPLES", "300"))
settings.register_profile("generated-configs", max_examples=EXAMPLES, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

BOOKINFO_VERSIONS = {"productpage": ("v1",), "reviews": ("v1", "v2", "v3"), "ratings": ("v1",), "details": ("v1",)}
SECONDS = st.integers(min_value=1, max_value=30).map(lambda n: f"{n}s")
PERCENTAGE = st.integers(min_value=0, max_value=100)


# --------------------------------------------------------------------------- the strategy


@st.composite
def split(draw, versions: tuple[str, ...]) -> dict:
    """One version (`to`) or weights over two or more summing to 100."""
    chosen = draw(st.lists(st.sampled_from(versions), min_size=1, max_size=len(versions), unique=True))
    if len(chosen) == 1:
        return {"to": chosen[0]}
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=100), min_size=len(chosen) - 1,
                                max_size=len(chosen) - 1)))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100])]
    return {"weights": dict(zip(chosen, shares))}


@st.composite
def routed(draw, versions: tuple[str, ...]) -> dict:
    """A split, with the options of a route; a mirror copies to a version the route
    does not send to."""
    to = draw(split(versions))
    return {**to, **draw(route_options(tuple(v for v in versions if v not in (to.get("weights") or {to.get("to")}))))}


@st.composite
def route_options(draw, unrouted: tuple[str, ...]) -> dict:
    options = {}
    if draw(st.booleans()):
        options["fault"] = draw(st.one_of(
            st.builds(lambda d, p: {"delay": {"fixedDelay": d, "percentage": p}}, SECONDS, PERCENTAGE),
            st.builds(lambda s, p: {"abort": {"httpStatus": s, "percentage": p}},
                      st.sampled_from([400, 403, 500, 503]), PERCENTAGE)))
    if draw(st.booleans()):
        options["timeout"] = draw(SECONDS)
    if draw(st.booleans()):
        options["retries"] = {"attempts": draw(st.integers(min_value=1, max_value=5)),
                              "perTryTimeout": draw(SECONDS)}
    if unrouted and draw(st.booleans()):
        options["mirror"] = {"version": draw(st.sampled_from(unrouted)), "percentage": draw(PERCENTAGE)}
    return options


HEADER_VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
MATCH = st.one_of(
    st.builds(lambda v: {"headers": {"end-user": {"exact": v}}}, HEADER_VALUE),
    st.builds(lambda v: {"uri": {"prefix": f"/{v}"}}, HEADER_VALUE),
)


@st.composite
def service(draw, name: str) -> dict:
    versions = tuple(draw(st.lists(st.sampled_from(BOOKINFO_VERSIONS[name]), min_size=1, unique=True)))
    config = {"versions": sorted(versions), **draw(routed(versions))}
    routes = draw(st.lists(st.builds(lambda match, route: {"match": match, **route}, MATCH, routed(versions)),
                           max_size=2))
    if routes:
        config["routes"] = routes
    return config


LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


@st.composite
def dns_label(draw, min_size: int = 1, max_size: int = 63) -> str:
    size = draw(st.integers(min_value=min_size, max_value=max_size))
    if size == 1:
        return draw(st.sampled_from(LABEL_CHARS))
    ends = st.sampled_from(LABEL_CHARS)
    middle = draw(st.text(alphabet=LABEL_CHARS + "-", min_size=size - 2, max_size=size - 2))
    return draw(ends) + middle + draw(ends)


@st.composite
def external_host(draw) -> str:
    """Up to 253 characters, labels up to 63: the longest names DNS allows."""
    labels = draw(st.lists(st.one_of(dns_label(), dns_label(min_size=60)), min_size=2, max_size=5))
    host = ".".join(labels)
    return host[-253:].lstrip(".-") if len(host) > 253 else host


@st.composite
def egress(draw) -> dict:
    hosts = draw(st.lists(external_host(), max_size=2, unique=True))
    services = []
    for n, host in enumerate(hosts):
        https = draw(st.booleans())
        # The first host's objects are named after the host half the time: the longest
        # labels then test the names the program derives from them.
        named = {} if n == 0 and draw(st.booleans()) else {"name": f"external-{n}"}
        services.append({**named, "host": host, "resolution": "DNS", "ports": [
            {"number": 443, "name": "https", "protocol": "HTTPS"} if https else
            {"number": 80, "name": "http", "protocol": "HTTP"}]})
    return {"externalServices": services} if services else {}


@st.composite
def ingress(draw) -> dict:
    config = {"hosts": draw(st.lists(st.builds(lambda a, b: f"{a}.{b}.example.com", dns_label(max_size=20),
                                                dns_label(max_size=20)), min_size=1, max_size=2, unique=True))}
    if draw(st.booleans()):
        tls = {"credentialName": draw(dns_label()), "httpsRedirect": draw(st.booleans())}
        if draw(st.booleans()):
            tls.update(certificate=SecretValue("[secret]"), privateKey=SecretValue("[secret]"))
        config["tls"] = tls
    return config


@st.composite
def stack_config(draw) -> dict:
    config = {"environment": draw(st.sampled_from(["dev", "staging", "prod"])),
              "services": {name: draw(service(name)) for name in BOOKINFO_VERSIONS}}
    istio = {}
    if draw(st.booleans()):
        # istiod-<revision> is a Service name (DNS-1035, at most 63): 56 characters at most.
        istio["revision"] = draw(dns_label(max_size=56).filter(lambda r: r[0].isalpha()))
    external = draw(egress())
    if external:
        config["egress"] = external
    if istio:
        config["istio"] = istio
    if draw(st.booleans()):
        config["ingress"] = draw(ingress())
    return config


# --------------------------------------------------------------------------- the checks


@pytest.fixture(scope="module")
def crds():
    """Istio's CRDs as `meshplan check --crds` reads them, loaded once, before any
    example; and a CEL environment made first: making one raises the recursion limit,
    which hypothesis would otherwise see change mid-test."""
    import celpy

    celpy.Environment()
    return project_crds()


def project_crds():
    """The published CRD file, found as every upstream artifact is (skip, or fail when
    required, without it)."""
    from model.analysis.schema import load_crds

    return load_crds(str(upstream(CRDS)))


def crd_problems(schemas, objects: list[dict]) -> list[str]:
    """The project's own schema check, as `meshplan check --crds` runs it; an Istio
    object of a kind or version the CRDs do not serve is a problem too (the check
    passes over it: it cannot know it)."""
    problems = [f"{o['kind']}: no served CRD version {o['apiVersion']}" for o in objects
                if o["apiVersion"].split("/")[0].endswith(".istio.io")
                and (o["apiVersion"], o["kind"]) not in schemas.specs]
    return problems + [f"{f.code} {f.kind} {f.name}: {f.message}"
                       for f in analyze(objects, schemas=schemas, only=SCHEMA_RULES)]


@cache
def shared_validators() -> dict[tuple[str, str], Draft202012Validator]:
    """The strict schemas of the checker kept beside the reference copy, by
    (apiVersion, kind), compiled once; none where that checker is absent (it is not
    published: an extra check, never the only one)."""
    path = SHARED_TOOLS / "istio_schema_check.py"
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location("istio_schema_check", path)
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    validators = {}
    for key, schema in checker.load_schemas(str(upstream(CRDS))).items():
        strict = checker.strict(schema)
        strict = {**strict, "properties": {k: v for k, v in strict.get("properties", {}).items()
                                           if k not in ("apiVersion", "kind", "metadata", "status")}}
        validators[key] = Draft202012Validator(strict)
    return validators


def shared_checker_problems(body: dict) -> list[str]:
    validator = shared_validators().get((body["apiVersion"], body["kind"]))
    if validator is None:
        return []
    spec = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    return [f"{body['kind']} {body['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}"
            for e in validator.iter_errors(spec)]


def share_problems(body: dict) -> list[str]:
    problems = []
    for n, rule in enumerate((body.get("spec") or {}).get("http") or []):
        destinations = rule.get("route") or []
        total = sum(d.get("weight", 100) for d in destinations) if len(destinations) == 1 else \
            sum(d.get("weight", 0) for d in destinations)
        if destinations and total != 100:
            problems.append(f"VirtualService {body['metadata']['name']} http[{n}]: shares sum to {total}")
    return problems


@settings(settings.get_profile("generated-configs"))
@given(stack_config())
def test_a_generated_valid_config_renders_into_objects_the_cluster_accepts(crds, config):
    parsed = parse_settings(config, stack="generated", source="Pulumi.generated.yaml")
    rendered = run_program(config, settings=parsed, stack="generated", source="Pulumi.generated.yaml")
    objects = list(rendered.objects())
    problems = crd_problems(crds, objects)
    for body in objects:
        problems += [f"{body['kind']} {body['metadata'].get('name')}: {p}" for p in name_problems(body)]
        if body["apiVersion"].split("/")[0].endswith(".istio.io"):
            problems += shared_checker_problems(body)
        if body["kind"] == "VirtualService":
            problems += share_problems(body)
    for release in rendered.releases():
        problems += [f"release {release.inputs['name']}: {p}" for p in release_problems(
            release.inputs["name"], release.inputs["chart"], release.inputs.get("values") or {})]
        _, defaults, _, cr_spec = chart(release.inputs["chart"])
        problems += [f"release {release.inputs['name']}: {p}"
                     for p in unknown_or_mistyped(release.inputs["values"], readable_defaults(defaults), cr_spec)]
    assert problems == []


BAD_ROUTE = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
             "metadata": {"name": "reviews", "namespace": "bookinfo"},
             "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}, "weight": "x"}],
                                                      "retry": {"attempts": 1}}]}}


def test_the_projects_own_schema_check_runs_without_the_shared_checker(crds, monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "SHARED_TOOLS", tmp_path)
    shared_validators.cache_clear()
    try:
        assert shared_checker_problems(BAD_ROUTE) == []
        assert crd_problems(crds, [BAD_ROUTE, {**BAD_ROUTE, "apiVersion": "networking.istio.io/v9"}]) == [
            "VirtualService: no served CRD version networking.istio.io/v9",
            "BM135 VirtualService reviews: spec.http[0].route[0].weight: 'x' is not of type 'integer'",
            "BM135 VirtualService reviews: spec.http[0]: Additional properties are not allowed ('retry' was unexpected)"]
    finally:
        shared_validators.cache_clear()


@pytest.mark.parametrize("require, outcome", [("", pytest.skip.Exception), ("1", pytest.fail.Exception)])
def test_without_the_published_crd_file_the_check_skips_or_fails_when_required(monkeypatch, tmp_path, require,
                                                                                 outcome):
    monkeypatch.setenv("BOOKINFO_MESH_UPSTREAM_DIR", str(tmp_path))
    monkeypatch.setenv("BOOKINFO_MESH_REQUIRE_UPSTREAM", require)
    with pytest.raises(outcome, match=f"upstream {CRDS} not found in {tmp_path}: run `make upstream`"):
        project_crds()

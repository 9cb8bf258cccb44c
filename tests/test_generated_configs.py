"""Valid stack configs, generated section by section, render into objects the
cluster accepts: every Istio object passes Istio's CRD schemas (the checker CI runs,
kept beside the CRDs), every name the Kubernetes rule for its field, every Helm value
key its chart, and the traffic shares of every route sum to 100.

Sections generated: services (deployed versions, a default route as one version or
weights, header and URI match routes, faults, timeouts, retries, mirrors), egress
hosts up to the maximal label and name lengths, the istio revision, ingress hosts and
TLS; the same as gateway-api stacks (sidecar or ambient). Not yet: stores, layers, traffic
policies, rollout.

300 examples by default; `BOOKINFO_MESH_EXAMPLES` (CI: 2000) sets how many. No
example database: every run draws afresh, and nothing is written to the checkout."""
from __future__ import annotations

import importlib.util
import os
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from jsonschema import Draft202012Validator

from meshplan.render.engine import run_program
from model.settings import SecretValue, parse_settings
from model.vocabulary import DNS_1035_LABEL_RE, DNS_LABEL_RE, DNS_SUBDOMAIN_RE, LABEL_VALUE_RE, PORT_NAME_RE
from tests.test_helm_values import chart, readable_defaults, unknown_or_mistyped
from tests.upstream import shared_tool, upstream

EXAMPLES = int(os.environ.get("BOOKINFO_MESH_EXAMPLES", "300"))
settings.register_profile("generated-configs", max_examples=EXAMPLES, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LABELLED_NAMES = ("Namespace", "Service")
"""Kinds whose names Kubernetes holds to a DNS label (Service: DNS-1035)."""

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


@cache
def istio_validators() -> dict[tuple[str, str], Draft202012Validator]:
    """The CI checker's strict schemas, by (apiVersion, kind), compiled once."""
    spec = importlib.util.spec_from_file_location("istio_schema_check", shared_tool("istio_schema_check.py"))
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    validators = {}
    for key, schema in checker.load_schemas(str(upstream("istio-1.30.3/crd-all.gen.yaml"))).items():
        strict = checker.strict(schema)
        strict = {**strict, "properties": {k: v for k, v in strict.get("properties", {}).items()
                                           if k not in ("apiVersion", "kind", "metadata", "status")}}
        validators[key] = Draft202012Validator(strict)
    return validators


def name_problems(body: dict) -> list[str]:
    kind, metadata = body["kind"], body.get("metadata") or {}
    name, problems = str(metadata.get("name")), []
    rule = DNS_1035_LABEL_RE if kind == "Service" else DNS_LABEL_RE if kind in LABELLED_NAMES else DNS_SUBDOMAIN_RE
    if not rule.match(name):
        problems.append(f"{kind} name {name!r}")
    if "namespace" in metadata and not DNS_LABEL_RE.match(metadata["namespace"]):
        problems.append(f"{kind} {name}: namespace {metadata['namespace']!r}")
    for key, value in (metadata.get("labels") or {}).items():
        if not LABEL_VALUE_RE.match(str(value)):
            problems.append(f"{kind} {name}: label {key}={value!r}")
    for port in (body.get("spec") or {}).get("ports") or []:
        if kind == "Service" and "name" in port and not DNS_LABEL_RE.match(port["name"]):
            problems.append(f"{kind} {name}: port name {port['name']!r}")
    containers = (((body.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        for port in container.get("ports") or []:
            if "name" in port and not PORT_NAME_RE.match(port["name"]):
                problems.append(f"{kind} {name}: container port name {port['name']!r}")
    return problems


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
def test_a_generated_valid_config_renders_into_objects_the_cluster_accepts(config):
    parsed = parse_settings(config, stack="generated", source="Pulumi.generated.yaml")
    rendered = run_program(config, settings=parsed, stack="generated", source="Pulumi.generated.yaml")
    validators = istio_validators()
    problems = []
    for body in rendered.objects():
        problems += name_problems(body)
        if body["apiVersion"].split("/")[0].endswith(".istio.io"):
            validator = validators.get((body["apiVersion"], body["kind"]))
            if validator is None:
                problems.append(f"{body['kind']}: no served CRD version {body['apiVersion']}")
                continue
            spec = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata", "status")}
            problems += [f"{body['kind']} {body['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}"
                         for e in validator.iter_errors(spec)]
        if body["kind"] == "VirtualService":
            problems += share_problems(body)
    for release in rendered.releases():
        _, defaults, _, cr_spec = chart(release.inputs["chart"])
        problems += [f"release {release.inputs['name']}: {p}"
                     for p in unknown_or_mistyped(release.inputs["values"], readable_defaults(defaults), cr_spec)]
    assert problems == []


@st.composite
def gateway_api_config(draw) -> dict:
    """A generated config as a gateway-api stack holds it: no faults (refused), the
    experimental channel when a route retries, a per-try timeout at most the route's;
    ambient half the time (without egress or a revision, which ambient sets up its own way)."""
    config = draw(stack_config())
    config["traffic"] = {"api": "gateway-api"}
    for service in config["services"].values():
        for route in [service, *service.get("routes", [])]:
            route.pop("fault", None)
            retries = route.get("retries")
            if retries:
                config["gatewayApi"] = {"channel": "experimental"}
                if "timeout" in route and int(retries["perTryTimeout"][:-1]) > int(route["timeout"][:-1]):
                    retries["perTryTimeout"] = route["timeout"]
    if draw(st.booleans()):
        config.pop("egress", None)
        config["istio"] = {"dataPlane": "ambient"}
    return config


def backend_problems(body: dict, services: set[tuple[str, str]]) -> list[str]:
    """Each rule's weights sum to 100 (a lone backend carries none), and each backend
    is a Service the stack renders."""
    problems = []
    namespace = body["metadata"]["namespace"]
    for n, rule in enumerate(body["spec"]["rules"]):
        refs = rule.get("backendRefs") or []
        weights = [ref.get("weight") for ref in refs]
        # A redirect rule sends nowhere.
        if refs and ((weights != [None]) if len(refs) == 1 else (sum(w or 0 for w in weights) != 100)):
            problems.append(f"HTTPRoute {body['metadata']['name']} rules[{n}]: weights {weights}")
        mirrors = [f["requestMirror"]["backendRef"] for f in rule.get("filters") or [] if f["type"] == "RequestMirror"]
        problems += [f"HTTPRoute {body['metadata']['name']}: no Service {ref['name']}"
                     for ref in [*refs, *mirrors] if (namespace, ref["name"]) not in services]
    return problems


@settings(settings.get_profile("generated-configs"))
@given(gateway_api_config())
def test_a_generated_gateway_api_config_renders_routes_to_services_it_renders(config):
    parsed = parse_settings(config, stack="generated", source="Pulumi.generated.yaml")
    rendered = run_program(config, settings=parsed, stack="generated", source="Pulumi.generated.yaml")
    objects = rendered.objects()
    services = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "Service"}
    validators = istio_validators()
    problems = []
    for body in objects:
        problems += name_problems(body)
        if body["apiVersion"].split("/")[0].endswith(".istio.io"):
            spec = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata", "status")}
            problems += [f"{body['kind']} {body['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}"
                         for e in validators[(body["apiVersion"], body["kind"])].iter_errors(spec)]
        if body["kind"] == "HTTPRoute":
            problems += backend_problems(body, services)
    assert not [o for o in objects if o["kind"] == "VirtualService"]
    waypoints = [o for o in objects if o["kind"] == "Gateway" and o["metadata"]["name"] == "waypoint"]
    assert len(waypoints) == (1 if parsed.ambient else 0)
    assert problems == []

"""Valid stack configs, generated section by section, render into objects the
cluster accepts: every Istio object passes Istio's CRD schemas, checked by the
project's own schema rule (what `meshplan check --crds` runs) on the published
`crd-all.gen.yaml` that `make upstream` fetches (and, where the strict checker kept
beside the reference copy is present, by that too), every name the Kubernetes rule
for its field, every Helm value key its chart, and the traffic shares of every route
sum to 100. Without the CRD file the test skips (fails under
`BOOKINFO_MESH_REQUIRE_UPSTREAM=1`), as every test of an upstream artifact does.

The sections generated are listed in tests/generated_stacks.py: services of both
apps with their routes and traffic policies, the bms app's stores, egress, ingress,
the istio revision, rollout settings, and layered environments, whose traffic stack
renders against the outputs of the mesh and app stacks it references; and the same
stacks routed with the Gateway API (sidecar or ambient), whose Gateway API objects
pass the v1.5.1 CRDs of their channel, and whose HTTPRoutes send only to Services
the stack renders; and stacks over two or three clusters (a tenth as many examples),
whose every resource is on its cluster's provider and which `meshplan check` passes.

300 examples by default; `BOOKINFO_MESH_EXAMPLES` (CI: 2000) sets how many. No
example database: every run draws afresh, and nothing is written to the checkout."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator

from meshplan.render.engine import run_program
from model.analysis import CATALOGUE, analyze
from model.settings import parse_settings
from model.object_names import name_problems, release_problems
from tests.generated_stacks import Environment, environments, gateway_api_stacks, multicluster_stacks, stack_ref
from tests.test_helm_values import values_problems
from tests.upstream import SHARED_TOOLS, upstream

CRDS = "istio-1.30.3/crd-all.gen.yaml"
GATEWAY_API_CRDS = "istio-ambient/gateway-api/v1.5.1/{channel}-install.yaml"
CHECKED_GROUPS = (".istio.io", "gateway.networking.k8s.io")
SCHEMA_RULES = tuple(code for code, r in CATALOGUE.items() if r.istio == "IST0106")
"""The project's CRD schema check (fields, types, enums, CEL rules)."""
EXAMPLES = int(os.environ.get("BOOKINFO_MESH_EXAMPLES", "300"))
settings.register_profile("generated-configs", max_examples=EXAMPLES, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- the checks


@pytest.fixture(scope="module")
def crds():
    """Istio's CRDs as `meshplan check --crds` reads them, loaded once, before any
    example; and a CEL environment made first: making one raises the recursion limit,
    which hypothesis would otherwise see change mid-test."""
    import celpy

    celpy.Environment()
    return Crds(project_crds())


@pytest.fixture(scope="module")
def crds_by_channel():
    """Istio's CRDs with the Gateway API's of each channel, as `meshplan check --crds
    crd-all.gen.yaml --crds <channel>-install.yaml` reads them."""
    import celpy

    from model.analysis.schema import load_crds

    celpy.Environment()
    return {channel: Crds(load_crds([str(upstream(CRDS)), str(upstream(GATEWAY_API_CRDS.format(channel=channel)))]))
            for channel in ("standard", "experimental")}


class Crds:
    """The loaded schemas, shown by name in a failing example's report."""

    def __init__(self, schemas):
        self.schemas = schemas

    def __repr__(self) -> str:
        return f"<{CRDS} as meshplan check --crds reads it>"


def project_crds():
    """The published CRD file, found as every upstream artifact is (skip, or fail when
    required, without it)."""
    from model.analysis.schema import load_crds

    return load_crds(str(upstream(CRDS)))


def crd_problems(crds: Crds, objects: list[dict]) -> list[str]:
    """The project's own schema check, as `meshplan check --crds` runs it; an Istio
    object of a kind or version the CRDs do not serve is a problem too (the check
    passes over it: it cannot know it)."""
    schemas = crds.schemas
    problems = [f"{o['kind']}: no served CRD version {o['apiVersion']}" for o in objects
                if o["apiVersion"].split("/")[0].endswith(CHECKED_GROUPS)
                and (o["apiVersion"], o["kind"]) not in schemas.specs]
    return problems + [f"{f.code} {f.kind} {f.name}: {f.message}"
                       for f in analyze(objects, schemas=schemas, only=SCHEMA_RULES)]


@cache
def shared_checker():
    """The strict checker kept beside the reference copy, or None where it is absent
    (it is not published: an extra check, never the only one)."""
    path = SHARED_TOOLS / "istio_schema_check.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("istio_schema_check", path)
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    return checker


@cache
def shared_validator(crds: Crds, api_version: str, kind: str) -> Draft202012Validator | None:
    """That checker's strict form of the spec schema, compiled once per kind (the
    schemas as the project read them: the checker's own reader is pure-Python YAML,
    seconds per load)."""
    checker, schema = shared_checker(), crds.schemas.specs.get((api_version, kind))
    return Draft202012Validator(checker.strict(schema)) if checker and schema else None


def shared_checker_problems(crds: Crds, body: dict) -> list[str]:
    validator = shared_validator(crds, body["apiVersion"], body["kind"])
    if validator is None:
        return []
    return [f"{body['kind']} {body['metadata']['name']}: {'.'.join(map(str, ('spec', *e.path)))}: {e.message}"
            for e in validator.iter_errors(body.get("spec") or {})]


def share_problems(body: dict) -> list[str]:
    problems = []
    for n, rule in enumerate((body.get("spec") or {}).get("http") or []):
        destinations = rule.get("route") or []
        total = sum(d.get("weight", 100) for d in destinations) if len(destinations) == 1 else \
            sum(d.get("weight", 0) for d in destinations)
        if destinations and total != 100:
            problems.append(f"VirtualService {body['metadata']['name']} http[{n}]: shares sum to {total}")
    return problems


def environment_problems(crds: Crds, environment: Environment) -> dict[str, list[str]]:
    """Each stack rendered in order, a layered one against the outputs of the stacks
    before it (what its StackReferences read), and its problems by stack."""
    outputs, problems = {}, {}
    for stack, config in environment.stacks:
        key = json.dumps([stack, config, outputs], sort_keys=True, default=repr)
        outputs[stack_ref(stack)], problems[stack] = stack_problems(crds, stack, key, config, dict(outputs))
    return problems


_seen: dict[str, tuple[dict, list[str]]] = {}


def stack_problems(crds: Crds, stack: str, key: str, config: dict, references: dict) -> tuple[dict, list[str]]:
    """A stack's outputs and problems, once per config: the mesh and app stacks of
    layered examples repeat (their outputs then determine the traffic stack's)."""
    if key not in _seen:
        source = f"Pulumi.{stack}.yaml"
        parsed = parse_settings(config, stack=stack, source=source)
        rendered = run_program(config, settings=parsed, stack=stack, source=source, reference_outputs=references)
        _seen[key] = (rendered.outputs, problems_of(crds, rendered))
    return _seen[key]


def problems_of(crds: Crds, rendered) -> list[str]:
    objects = list(rendered.objects())
    problems = crd_problems(crds, objects)
    for body in objects:
        problems += [f"{body['kind']} {body['metadata'].get('name')}: {p}" for p in name_problems(body)]
        if body["apiVersion"].split("/")[0].endswith(".istio.io"):
            problems += shared_checker_problems(crds, body)
        if body["kind"] == "VirtualService":
            problems += share_problems(body)
    for release in rendered.releases():
        problems += [f"release {release.inputs['name']}: {p}" for p in release_problems(
            release.inputs["name"], release.inputs["chart"], release.inputs.get("values") or {})]
        problems += [f"release {release.inputs['name']}: {p}"
                     for p in values_problems(release.inputs["chart"], release.inputs["values"])]
    return problems


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
@given(environments())
def test_a_generated_valid_config_renders_into_objects_the_cluster_accepts(crds, environment):
    problems = environment_problems(crds, environment)
    assert {stack: found for stack, found in problems.items() if found} == {}


@settings(settings.get_profile("generated-configs"))
@given(gateway_api_stacks())
def test_a_generated_gateway_api_config_renders_routes_to_services_it_renders(crds_by_channel, environment):
    [(stack, config)] = environment.stacks
    parsed = parse_settings(config, stack=stack, source=f"Pulumi.{stack}.yaml")
    rendered = run_program(config, settings=parsed, stack=stack, source=f"Pulumi.{stack}.yaml")
    objects = list(rendered.objects())
    problems = problems_of(crds_by_channel[parsed.gateway_api.channel], rendered)
    services = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "Service"}
    problems += [p for body in objects if body["kind"] == "HTTPRoute" for p in backend_problems(body, services)]
    # The app's traffic is HTTPRoutes; egress through the egress gateway stays Istio's API.
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "VirtualService"
            and not any(g.endswith("egressgateway") for g in o["spec"].get("gateways", []))] == []
    waypoints = [o for o in objects if o["kind"] == "Gateway" and o["metadata"]["name"] == "waypoint"]
    assert len(waypoints) == (1 if parsed.ambient else 0)
    assert problems == []


@settings(settings.get_profile("generated-configs"), max_examples=max(EXAMPLES // 10, 20))
@given(multicluster_stacks())
def test_a_generated_multicluster_config_renders_every_cluster_on_its_provider(crds, environment):
    """Fewer examples: each renders two or three clusters."""
    from meshplan.check import check_rendered

    [(stack, config)] = environment.stacks
    parsed = parse_settings(config, stack=stack, source=f"Pulumi.{stack}.yaml")
    # A stack over clusters runs its provider in strict mode (model/settings/parse_provider.py).
    rendered = run_program(config, settings=parsed, stack=stack, source=f"Pulumi.{stack}.yaml",
                           provider_config={"strictMode": "true"})
    problems = problems_of(crds, rendered)
    clusters = {cluster.name for cluster in parsed.multicluster.clusters}
    problems += [f"{name}: on provider {cluster}" for name, _, cluster in rendered.provider_clusters()
                 if cluster not in clusters]
    problems += [f"{f.code} {f.kind} {f.name}: {f.message}" for f in check_rendered(rendered) if f.level == "error"]
    assert problems == []


BAD_ROUTE = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
             "metadata": {"name": "reviews", "namespace": "bookinfo"},
             "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}, "weight": "x"}],
                                                      "retry": {"attempts": 1}}]}}


def test_the_projects_own_schema_check_runs_without_the_shared_checker(crds, monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "SHARED_TOOLS", tmp_path)
    shared_checker.cache_clear()
    shared_validator.cache_clear()
    try:
        assert shared_checker_problems(crds, BAD_ROUTE) == []
        assert crd_problems(crds, [BAD_ROUTE, {**BAD_ROUTE, "apiVersion": "networking.istio.io/v9"}]) == [
            "VirtualService: no served CRD version networking.istio.io/v9",
            "BM135 VirtualService reviews: spec.http[0].route[0].weight: 'x' is not of type 'integer'",
            "BM135 VirtualService reviews: spec.http[0]: Additional properties are not allowed ('retry' was unexpected)"]
        monkeypatch.undo()
        shared_checker.cache_clear()
        shared_validator.cache_clear()
        assert len(shared_checker_problems(crds, BAD_ROUTE)) == (2 if shared_checker() else 0)
    finally:
        shared_checker.cache_clear()
        shared_validator.cache_clear()


@pytest.mark.parametrize("require, outcome", [("", pytest.skip.Exception), ("1", pytest.fail.Exception)])
def test_without_the_published_crd_file_the_check_skips_or_fails_when_required(monkeypatch, tmp_path, require,
                                                                                 outcome):
    monkeypatch.setenv("BOOKINFO_MESH_UPSTREAM_DIR", str(tmp_path))
    monkeypatch.setenv("BOOKINFO_MESH_REQUIRE_UPSTREAM", require)
    with pytest.raises(outcome, match=f"upstream {CRDS} not found in {tmp_path}: run `make upstream`"):
        project_crds()

"""Hypothesis strategies for valid stack configs, built section by section: the
services of Bookinfo or of the BookManagementSystem app (deployed versions, a
default route as one version or weights, header and URI match routes, faults,
timeouts, retries, mirrors, DestinationRule traffic policies per service and per
version), the bms app's stores, egress hosts up to the maximal label and name
lengths, the istio revision, ingress hosts and TLS, rollout settings, and layered
environments: a mesh, an app and a traffic stack linked by stackRefs.

Every example is an `Environment`: the stacks to render in order, each referencing
only stacks before it (a single stack holds all three layers)."""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from model.names import is_default_provider
from model.settings import SecretValue
from model.vocabulary import LOAD_BALANCERS

ORGANIZATION, PROJECT = "organization", "bookinfo-mesh"
BOOKINFO_VERSIONS = {"productpage": ("v1",), "reviews": ("v1", "v2", "v3"), "ratings": ("v1",), "details": ("v1",)}
BMS_VERSIONS = {"bookinfo-core": ("v1",), "bookinfo-rating": ("v1", "v2"), "bookinfo-order": ("v1",)}
"""The routed services of each app (bms' payment service runs outside the mesh)."""
BMS_STORES = ("bookinfo-db", "bookinfo-kafka")
SECONDS = st.integers(min_value=1, max_value=30).map(lambda n: f"{n}s")
DURATION = st.one_of(SECONDS, st.integers(min_value=1, max_value=999).map(lambda n: f"{n}ms"))
PERCENTAGE = st.integers(min_value=0, max_value=100)
LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class Environment:
    """Stacks as (name, config), in the order they deploy."""

    stacks: tuple[tuple[str, dict], ...]


def stack_ref(stack: str) -> str:
    return f"{ORGANIZATION}/{PROJECT}/{stack}"


# --------------------------------------------------------------------------- routes


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


# --------------------------------------------------------------------------- traffic policies


@st.composite
def load_balancer(draw):
    kind = draw(st.sampled_from(["simple", "header", "cookie"]))
    if kind == "simple":
        return draw(st.sampled_from(LOAD_BALANCERS))
    if kind == "header":
        return {"consistentHash": {"httpHeaderName": draw(st.sampled_from(["x-user", "end-user", "x-session.id"]))}}
    cookie = {"name": draw(st.text(alphabet=LABEL_CHARS + "_-", min_size=1, max_size=20))}
    if draw(st.booleans()):
        cookie["path"] = "/" + draw(st.text(alphabet=LABEL_CHARS, max_size=10))
    if draw(st.booleans()):
        cookie["ttl"] = draw(st.one_of(st.just("0s"), DURATION))
    return {"consistentHash": {"httpCookie": cookie}}


def some_of(fields: dict) -> st.SearchStrategy[dict]:
    """A non-empty selection of `fields` (name → strategy)."""
    return st.lists(st.sampled_from(sorted(fields)), min_size=1, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: fields[name] for name in names}))


COUNT = st.integers(min_value=1, max_value=1000)
TCP_POOL = some_of({"maxConnections": COUNT, "connectTimeout": DURATION})
HTTP_POOL = some_of({"http1MaxPendingRequests": COUNT, "http2MaxRequests": COUNT, "maxRequestsPerConnection": COUNT,
                     "maxRetries": COUNT, "idleTimeout": DURATION})
OUTLIER = some_of({"consecutive5xxErrors": COUNT, "consecutiveGatewayErrors": COUNT, "interval": DURATION,
                   "baseEjectionTime": DURATION, "maxEjectionPercent": PERCENTAGE, "minHealthPercent": PERCENTAGE})
TRAFFIC_POLICY = some_of({"loadBalancer": load_balancer(), "connectionPool": some_of({"tcp": TCP_POOL, "http": HTTP_POOL}),
                          "outlierDetection": OUTLIER})


# --------------------------------------------------------------------------- sections


@st.composite
def service(draw, versions_of: tuple[str, ...], *, deployed: tuple[str, ...] | None = None,
            routes: bool = True, policies: bool = True) -> dict:
    """A service's settings; `deployed`: the versions to deploy (drawn when None);
    `routes` False: versions only (an app stack's); `policies` False: no
    DestinationRule settings (an app stack makes no DestinationRule)."""
    versions = deployed or tuple(sorted(draw(st.lists(st.sampled_from(versions_of), min_size=1, unique=True))))
    config: dict = {"versions": list(versions)}
    if routes:
        config.update(draw(routed(versions)))
        matched = draw(st.lists(st.builds(lambda match, route: {"match": match, **route}, MATCH, routed(versions)),
                                max_size=2))
        if matched:
            config["routes"] = matched
    if policies and draw(st.booleans()):
        config["trafficPolicy"] = draw(TRAFFIC_POLICY)
    if policies and draw(st.booleans()):
        subsets = draw(st.lists(st.sampled_from(versions), min_size=1, unique=True))
        config["subsetTrafficPolicy"] = {v: draw(TRAFFIC_POLICY) for v in subsets}
    return config


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
def stores(draw) -> dict:
    """The bms app's PostgreSQL and Kafka stores: size, StorageClass, protection."""
    config = {}
    for name in draw(st.lists(st.sampled_from(BMS_STORES), min_size=1, unique=True)):
        store = {}
        if draw(st.booleans()):
            store["size"] = draw(st.builds(lambda n, unit: f"{n}{unit}", st.integers(min_value=1, max_value=999),
                                           st.sampled_from(["Mi", "Gi", "Ti", "M", "G", "T"])))
        if draw(st.booleans()):
            store["storageClass"] = ".".join(draw(st.lists(dns_label(max_size=20), min_size=1, max_size=3)))
        if draw(st.booleans()):
            store["protect"] = draw(st.booleans())
        config[name] = store
    return config


@st.composite
def rollout(draw) -> dict:
    """maxStep and the preview guard, and the analysis gates `meshplan rollout` reads."""
    config: dict = {}
    if draw(st.booleans()):
        # Percentage points: whole or fractional, up to the whole of the traffic.
        config["maxStep"] = draw(st.one_of(st.just(100), st.integers(min_value=1, max_value=99),
                                           st.integers(min_value=1, max_value=999).map(lambda n: n / 10)))
    if draw(st.booleans()):
        config["guardPreviews"] = draw(st.booleans())
    if draw(st.booleans()):
        analysis = draw(some_of({
            "window": st.builds(lambda n, unit: f"{n}{unit}", st.integers(min_value=1, max_value=60),
                                st.sampled_from("smh")),
            "minRequests": st.integers(min_value=1, max_value=10_000),
            "successRate": st.integers(min_value=0, max_value=100),
            "latencyP99": st.integers(min_value=0, max_value=10_000)}))
        config["analysis"] = analysis
    return config


def revision() -> st.SearchStrategy[str]:
    # istiod-<revision> is a Service name (DNS-1035, at most 63): 56 characters at most.
    return dns_label(max_size=56).filter(lambda r: r[0].isalpha())


# --------------------------------------------------------------------------- stacks


@st.composite
def single_stack(draw) -> Environment:
    """One stack of all layers, of Bookinfo or of the bms app (its stores and secret)."""
    bms = draw(st.booleans())
    app_versions = BMS_VERSIONS if bms else BOOKINFO_VERSIONS
    config = {"environment": draw(st.sampled_from(["dev", "staging", "prod"])),
              "services": {name: draw(service(versions)) for name, versions in app_versions.items()}}
    if bms:
        config["app"] = {"name": "bms"}
        config["databasePassword"] = SecretValue("[secret]")
        config["stores"] = draw(stores())
    istio: dict = {"egressGateway": {"enabled": True}} if bms else {}  # bms reaches its payment service through it
    if draw(st.booleans()):
        istio["revision"] = draw(revision())
    if istio:
        config["istio"] = istio
    external = draw(egress())
    if external:
        config["egress"] = external
    if draw(st.booleans()):
        config["ingress"] = draw(ingress())
    chosen_rollout = draw(rollout())
    if chosen_rollout:
        config["rollout"] = chosen_rollout
    return Environment(stacks=(("generated", config),))


@st.composite
def layered_stacks(draw) -> Environment:
    """A mesh, an app and a traffic stack of Bookinfo, as Pulumi.prod-*.yaml split one
    environment: the traffic stack routes only to versions its app stack deploys."""
    environment = draw(st.sampled_from(["dev", "staging", "prod"]))
    istio = {"revision": draw(revision())} if draw(st.booleans()) else {}
    common = {"environment": environment, **({"istio": istio} if istio else {})}
    mesh = {**common, "layers": ["mesh"]}
    deployed = {name: tuple(sorted(draw(st.lists(st.sampled_from(versions), min_size=1, unique=True))))
                for name, versions in BOOKINFO_VERSIONS.items()}
    app = {**common, "layers": ["app"], "stackRefs": {"mesh": stack_ref("generated-mesh")},
           "services": {name: {"versions": list(versions)} for name, versions in deployed.items()}}
    traffic = {**common, "layers": ["traffic"],
               "stackRefs": {"mesh": stack_ref("generated-mesh"), "app": stack_ref("generated-app")},
               "services": {name: draw(service(BOOKINFO_VERSIONS[name], deployed=versions))
                            for name, versions in deployed.items()}}
    external = draw(egress())
    if external:
        traffic["egress"] = external
    if draw(st.booleans()):
        traffic["ingress"] = draw(ingress())
    chosen_rollout = draw(rollout())
    if chosen_rollout:
        traffic["rollout"] = chosen_rollout
    return Environment(stacks=(("generated-mesh", mesh), ("generated-app", app), ("generated-traffic", traffic)))


def environments() -> st.SearchStrategy[Environment]:
    """Single stacks three times in four, layered environments the rest."""
    return st.one_of(single_stack(), single_stack(), single_stack(), layered_stacks())


@st.composite
def gateway_api_stacks(draw) -> Environment:
    """A single stack routed with the Gateway API: what an HTTPRoute cannot say left
    out (faults), the experimental channel where a route retries, a per-try timeout at
    most the route's; ambient half the time for Bookinfo (without egress or a revision,
    which ambient refuses or sets up its own way)."""
    [(stack, config)] = draw(single_stack()).stacks
    config["traffic"] = {"api": "gateway-api"}
    for settings in config["services"].values():
        for route in [settings, *settings.get("routes", [])]:
            route.pop("fault", None)
            retries = route.get("retries")
            if retries:
                config["gatewayApi"] = {"channel": "experimental"}
                if "timeout" in route and int(retries["perTryTimeout"][:-1]) > int(route["timeout"][:-1]):
                    retries["perTryTimeout"] = route["timeout"]
    if config.get("app", {}).get("name") != "bms" and draw(st.booleans()):
        config.pop("egress", None)
        config["istio"] = {"dataPlane": "ambient"}
    return Environment(stacks=(("generated-gateway-api", config),))


@st.composite
def multicluster_stacks(draw) -> Environment:
    """A Bookinfo or bms stack over two or three clusters: one primary, then primaries
    or remotes of the first primary, each on its own network or sharing one, with
    every version placed somewhere and bms' stores in one cluster each (named, or the
    first primary); trust provided (each primary's cacerts) or self-signed with one
    primary."""
    from tests.conftest import with_secrets_set

    [(_, config)] = draw(single_stack().filter(
        lambda env: "revision" not in env.stacks[0][1].get("istio", {}))).stacks
    roles = ["primary", *draw(st.lists(st.sampled_from(["primary", "remote"]), min_size=1, max_size=2))]
    shared_network = draw(st.booleans()) and "remote" not in roles
    # A name the engine would take for a default provider's is refused.
    names = draw(st.lists(dns_label(max_size=12).filter(lambda n: n[0].isalpha() and not is_default_provider(n)),
                          min_size=len(roles),
                          max_size=len(roles), unique=True))
    clusters = {}
    for i, (name, role) in enumerate(zip(names, roles)):
        cluster = {"role": role, "network": "net" if shared_network else f"net-{name}",
                   "apiServer": f"https://10.{i}.0.10:6443"}
        if role == "primary":
            cluster["eastWest"] = {"address": f"34.75.71.{i + 1}"}
        else:
            cluster["controlPlane"] = names[0]
        clusters[name] = cluster
    primaries = roles.count("primary")
    config["mesh"] = {"id": "mesh1", "trust": {"mode": "provided" if primaries > 1 or draw(st.booleans())
                                                 else "selfSigned"}}
    config["clusters"] = clusters
    placement = {}
    for service_name, service_config in config["services"].items():
        if draw(st.booleans()):
            placement[service_name] = {version: draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
                                       for version in service_config["versions"]}
    for store in (BMS_STORES if config.get("app", {}).get("name") == "bms" else ()):
        if draw(st.booleans()):
            placement[store] = [draw(st.sampled_from(names))]
    if placement:
        config["app"] = {**config.get("app", {}), "placement": placement}
    return Environment(stacks=(("generated-clusters", with_secrets_set(config)),))

"""Parsing `mesh`, `clusters` and `app.placement`: one Istio mesh over several
Kubernetes clusters, each refusal one line naming the file, the key path, the
value and what is allowed.

Called by `parse_settings`; the per-cluster secret keys (`kubeconfig-<cluster>`,
`cacerts-<cluster>`) are the stack's own names, accepted at the top level beside the
declared keys (`cluster_secret_keys`)."""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from model.apps import Application
from model.errors import ConfigError
from model.names import CLUSTER_DOMAIN, is_default_provider
from model.settings.cluster_types import (EAST_WEST_SERVICE_TYPES, PRIMARY, REMOTE, ROLES, TRUST_MODES, layers_deploy_to,
                                          TRUST_PROVIDED, TRUST_SELF_SIGNED, ClusterSettings, EastWest,
                                          KubeconfigSource, MeshSettings, MultiClusterSettings)
from model.settings.reader import CONFIG_KEYS, Cursor, Keys
from model.settings.types import SecretValue
from model.vocabulary import DNS_LABEL_RE, DNS_SUBDOMAIN_RE, EXTERNAL_HOST_RE, LABEL_VALUE_RE


MESH_KEYS = Keys("mesh", "id", "trustDomain", "trust")
TRUST_KEYS = Keys("mesh.trust", "mode")
CLUSTER_KEYS = Keys("clusters.<cluster>", "role", "network", "controlPlane", "kubeconfig", "apiServer",
                           "eastWest")
KUBECONFIG_KEYS = Keys("clusters.<cluster>.kubeconfig", "secret", "stackRef", "output", "context")
EAST_WEST_KEYS = Keys("clusters.<cluster>.eastWest", "serviceType", "address", "discover")
PLACEMENT_KEY = "placement"
"""Under `app`: service → version → clusters."""

MESH_WIDE = {"id", "meshID", "meshId", "trustDomain", "trust"}
"""Keys a cluster might carry that are one value for the whole mesh: different mesh
IDs or trust between primaries break cross-cluster mTLS."""
TRUST_GENERATE = "generate"
CACERTS_KEYS = ("ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem")
"""The plug-in CA files istiod reads from the `cacerts` Secret."""
_SECRET_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*\Z")
_STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")
_NETWORK_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
_LOCAL_HOSTS = ("localhost", "localhost.localdomain")
DEV_ONLY_CONTEXT = "dev"


CLUSTER_SECRET_PREFIXES = ("kubeconfig-", "cacerts-")


def kubeconfig_key(cluster: str) -> str:
    return f"{CLUSTER_SECRET_PREFIXES[0]}{cluster}"


def cacerts_key(cluster: str) -> str:
    return f"{CLUSTER_SECRET_PREFIXES[1]}{cluster}"


def cluster_secret_keys(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The top-level secret keys the stack's `clusters` name (read leniently: the
    parser refuses a bad shape with its own line): each cluster's kubeconfig key and
    its `cacerts-<cluster>`."""
    clusters = config.get("clusters")
    if not isinstance(clusters, dict):
        return ()
    keys: list[str] = []
    for name, body in clusters.items():
        kubeconfig = body.get("kubeconfig") if isinstance(body, dict) else None
        secret = kubeconfig.get("secret") if isinstance(kubeconfig, dict) else None
        keys.append(secret if isinstance(secret, str) else kubeconfig_key(str(name)))
        keys.append(cacerts_key(str(name)))
    return tuple(k for k in keys if k not in CONFIG_KEYS.get("", ()))


def parse_clusters(root: Cursor, *, application: Application, environment: str, data_plane: str, stack: str,
                   install: bool = True, unset_secrets_allowed: bool = False,
                   holds: Callable[[str], bool] = lambda _layer: True) -> MultiClusterSettings | None:
    """The multi-cluster settings, or None for a one-cluster stack (no `clusters`).
    `root` is the cursor at the project prefix; `install` is `istio.install`;
    `unset_secrets_allowed` as in `parse_settings` (an offline render lists missing
    secrets instead of stopping); `holds` says which layers the stack holds: a layer
    needs the kubeconfigs of the clusters it deploys to only, and `cacerts` only the
    mesh layer."""
    at = root["clusters"].mapping()
    placement_at = root["app"].mapping()[PLACEMENT_KEY]
    if not at.keys():
        if root["mesh"].raw is not None:
            raise root["mesh"].fail("needs bookinfo-mesh:clusters: the mesh settings are those of a mesh over "
                                    "several clusters", root["mesh"].raw)
        if placement_at.raw is not None:
            raise placement_at.fail("needs bookinfo-mesh:clusters: a one-cluster stack runs every version there",
                                    placement_at.raw)
        return None
    not_set: list[str] = []
    clusters = tuple(_cluster(at, name, root, environment, not_set, holds) for name in at.keys())
    _check_one_owner(at, clusters)
    _check_roles(at, clusters)
    mesh = _mesh(root, clusters)
    if len(clusters) > 1 and data_plane == "ambient":
        raise root["istio"]["dataPlane"].fail(
            f"ambient with {len(clusters)} clusters is not supported (ambient multicluster needs the HBONE "
            f"east-west gateway and one root, open gaps in Istio 1.30.3); use istio.dataPlane=sidecar", data_plane)
    if not install:
        raise root["istio"]["install"].fail("a mesh over several clusters installs Istio in each (cluster ID, "
                                            "network, mesh ID and trust are chart values); remove istio.install",
                                            False)
    if mesh.trust_mode == TRUST_PROVIDED and holds("mesh"):
        for cluster in clusters:
            if cluster.is_primary:
                _secret_key(root, cacerts_key(cluster.name), "an intermediate CA bundle (a JSON object with "
                            f"{', '.join(CACERTS_KEYS)})", not_set)
    if not_set and not unset_secrets_allowed:
        raise secret_not_set(root, not_set[0], stack)
    placement, store_placement = _placement(placement_at, application, clusters)
    return MultiClusterSettings(mesh=mesh, clusters=clusters, placement=placement, store_placement=store_placement,
                                secrets_not_set=tuple(not_set))


def secret_not_set(root: Cursor, key: str, stack: str) -> ConfigError:
    return root[key].fail(f"not set; set it with pulumi config set --secret {key} <value> --stack {stack}")


def _cluster(clusters: Cursor, name: str, root: Cursor, environment: str, not_set: list[str],
             holds: Callable[[str], bool]) -> ClusterSettings:
    at = clusters[name]
    if not DNS_LABEL_RE.match(name):
        raise at.holding(name).fail("expected a cluster name: a DNS-1123 label (lowercase letters, digits and '-', "
                                    "at most 63 characters), used as clusterName and remote-secret key", name)
    if is_default_provider(name):
        raise at.holding(name).fail("the cluster's provider is named after it, and the engine takes a provider "
                                    "whose name starts with 'default' for one it made itself (pulumi "
                                    "providers.IsDefaultProvider), which strict mode refuses; name the cluster "
                                    "otherwise", name)
    if isinstance(at.raw, dict):
        for key in at.raw:
            if key in MESH_WIDE:
                raise at[key].fail("one value for every cluster of the mesh: set it once under bookinfo-mesh:mesh "
                                   "(different mesh IDs or trust between clusters break cross-cluster mTLS)",
                                   at.raw[key])
    at = at.mapping(CLUSTER_KEYS)
    if at.raw == {}:
        raise at.fail("expected a mapping with role, network, kubeconfig, apiServer", clusters.raw[name])
    role = at.get("role", None, lambda c: c.string(choices=ROLES))
    if role is None:
        raise at["role"].fail(f"required: {' or '.join(ROLES)}")
    control_plane = at.get("controlPlane", None, lambda c: c.string(pattern=DNS_LABEL_RE, what="a cluster name"))
    if role == PRIMARY and control_plane is not None:
        raise at["controlPlane"].fail("only a remote names a control plane; a primary runs its own istiod",
                                      control_plane)
    east_west = at["eastWest"].mapping(EAST_WEST_KEYS)
    return ClusterSettings(
        name=name, role=role, control_plane=control_plane,
        network=at.get("network", "", lambda c: c.string(
            pattern=_NETWORK_RE, what="a network name (a label value: letters, digits, '-', '_', '.')")),
        kubeconfig=_kubeconfig(at["kubeconfig"], name, root, environment,
                               not_set if layers_deploy_to(role, holds) else []),
        api_server=at.get("apiServer", "", _api_server),
        east_west=_east_west(east_west),
    )


def _east_west(at: Cursor) -> EastWest:
    east_west = EastWest(service_type=at.get("serviceType", "LoadBalancer",
                                             lambda c: c.string(choices=EAST_WEST_SERVICE_TYPES)),
                         address=at.get("address", None, _address),
                         discover=at.get("discover", False, lambda c: c.boolean()))
    if east_west.discover and east_west.address is not None:
        raise at["discover"].fail("give address or discover, not both: one source of the gateway's address", True)
    if east_west.discover and east_west.service_type != "LoadBalancer":
        raise at["discover"].fail(f"a {east_west.service_type} Service has no one address to read (every node "
                                  f"serves it); give address, or serviceType LoadBalancer", True)
    return east_west


def _kubeconfig(at: Cursor, cluster: str, root: Cursor, environment: str, not_set: list[str]) -> KubeconfigSource:
    at = at.mapping(KUBECONFIG_KEYS)
    given = [key for key in ("secret", "stackRef", "context") if key in at]
    if len(given) > 1:
        raise at.fail(f"give one of secret, stackRef (with output), context; got {', '.join(given)}", at.raw)
    if "output" in at and "stackRef" not in at:
        raise at["output"].fail("only with stackRef: the output of that stack holding the kubeconfig", at.raw["output"])
    if "context" in at:
        context = at["context"].string(what="a kubeconfig context name")
        if environment != DEV_ONLY_CONTEXT:
            raise at["context"].fail(f"a local kubeconfig context is for environment {DEV_ONLY_CONTEXT} only; in "
                                     f"{environment} use {{secret: NAME}} or {{stackRef: ORG/PROJECT/STACK, "
                                     f"output: NAME}}", context)
        return KubeconfigSource(context=context)
    if "stackRef" in at:
        stack_ref = at["stackRef"].string(pattern=_STACK_NAME_RE,
                                          what="a fully qualified stack name <org>/<project>/<stack>")
        if "output" not in at:
            raise at["output"].fail("required with stackRef: the name of the stack output holding the kubeconfig")
        return KubeconfigSource(stack_ref=stack_ref, output=at["output"].string(what="a stack output name"))
    secret = at.get("secret", kubeconfig_key(cluster),
                    lambda c: c.string(pattern=_SECRET_KEY_RE, what="a config key name (letters, digits, '-', '_')"))
    if secret in CONFIG_KEYS.get("", ()) or secret in ("mesh", "clusters"):
        raise at["secret"].fail("a setting of the stack, not a secret key; name an undeclared key such as "
                                f"{kubeconfig_key(cluster)}", secret)
    _secret_key(root, secret, "a kubeconfig", not_set)
    return KubeconfigSource(secret=secret)


def _secret_key(root: Cursor, key: str, what: str, not_set: list[str]) -> None:
    """A secret config key: set with `--secret` (a plaintext value sits readable in
    the stack file and the state) or not set yet. The value is never echoed."""
    value = root.raw.get(key)
    if value is None:
        not_set.append(key)
    elif not isinstance(value, SecretValue):
        raise root[key].fail(f"holds plaintext; {what} must be a Pulumi secret: set it with "
                             f"`pulumi config set --secret {key} <value>`")


def _api_server(at: Cursor) -> str:
    url = at.string(what="an https URL of the API server")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        raise at.fail("expected an https URL of the API server such as https://10.0.0.10:6443", url) from None
    if parts.scheme != "https" or not host:
        raise at.fail("expected an https URL of the API server such as https://10.0.0.10:6443", url)
    if is_local_host(host):
        raise at.fail("a local address: the other clusters' istiod cannot reach it; give the address they reach "
                      "(e.g. the node or container IP)", url)
    return url


def is_local_host(host: str) -> bool:
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _address(at: Cursor) -> str:
    address = at.string(what="an IP address or a DNS name")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        if not EXTERNAL_HOST_RE.match(address):
            raise at.fail("expected an IP address or a DNS name", address) from None
    if is_local_host(address):
        raise at.fail("a local address: the other clusters cannot reach it", address)
    return address


def _check_one_owner(at: Cursor, clusters: tuple[ClusterSettings, ...]) -> None:
    """Two clusters reading one kubeconfig or naming one API server would deploy
    twice to one cluster under two cluster IDs."""
    seen_secret: dict[str, str] = {}
    seen_server: dict[str, str] = {}
    for cluster in clusters:
        source = cluster.kubeconfig.secret or cluster.kubeconfig.context or \
            f"{cluster.kubeconfig.stack_ref}#{cluster.kubeconfig.output}"
        if source in seen_secret:
            raise at[cluster.name]["kubeconfig"].fail(
                f"the kubeconfig of cluster {seen_secret[source]} too: each cluster needs its own", source)
        seen_secret[source] = cluster.name
        if cluster.api_server and cluster.api_server in seen_server:
            raise at[cluster.name]["apiServer"].fail(
                f"the API server of cluster {seen_server[cluster.api_server]} too: each cluster needs its own",
                cluster.api_server)
        seen_server[cluster.api_server] = cluster.name


def _check_roles(at: Cursor, clusters: tuple[ClusterSettings, ...]) -> None:
    primaries = [c.name for c in clusters if c.is_primary]
    if not primaries:
        raise at.fail("no primary: at least one cluster needs role: primary (its own istiod)")
    several = len(clusters) > 1
    for cluster in clusters:
        here = at[cluster.name]
        if cluster.role == REMOTE:
            if cluster.control_plane is None:
                raise here["controlPlane"].fail(f"required for a remote: the primary whose istiod serves it; "
                                                f"primaries: {', '.join(primaries)}")
            if cluster.control_plane not in primaries:
                what = "a remote" if cluster.control_plane in at.keys() else "no such cluster"
                raise here["controlPlane"].fail(f"{what}, not a primary; primaries: {', '.join(primaries)}",
                                                cluster.control_plane)
        if several and not cluster.network:
            raise here["network"].fail("required with several clusters: global.network and the istio-system "
                                       "network label (the same name for clusters that reach each other's pods)")
        if several and not cluster.api_server:
            raise here["apiServer"].fail("required with several clusters: the https URL the other clusters' "
                                         "istiod reach this cluster's API server at")
        remotes = [c.name for c in clusters if c.control_plane == cluster.name]
        if cluster.is_primary and remotes and cluster.east_west.address is None and not cluster.east_west.discover:
            raise here["eastWest"]["address"].fail(
                f"required (or discover: true to read it from the gateway's Service): the remote "
                f"{', '.join(remotes)} reaches this istiod through the east-west gateway (global.remotePilotAddress)")
        if cluster.is_primary and remotes and cluster.east_west.address is not None \
                and not _is_ip(cluster.east_west.address):
            # The same rule as a discovered hostname (model/multicluster/discovery.py).
            raise here["eastWest"]["address"].fail(
                f"the remote {', '.join(remotes)} takes it as global.remotePilotAddress, which must be an IP (with a "
                f"hostname the remote's istiod Service is an ExternalName, which the API server cannot send the "
                f"injection webhook to: istio/istio#29359); give a stable IP of the load balancer",
                cluster.east_west.address)
        if cluster.east_west.discover and not remotes:
            raise here["eastWest"]["discover"].fail(
                "only a primary with remotes reads its gateway's address (their global.remotePilotAddress); "
                "this cluster has none", True)


def _mesh(root: Cursor, clusters: tuple[ClusterSettings, ...]) -> MeshSettings:
    at = root["mesh"].mapping(MESH_KEYS)
    mesh_id = at.get("id", None, lambda c: c.string(pattern=LABEL_VALUE_RE, what="a mesh ID (a label value)"))
    if mesh_id is None and len(clusters) > 1:
        raise at["id"].fail("required with several clusters: global.meshID, the same on every cluster")
    trust = at["trust"].mapping(TRUST_KEYS)
    mode = trust.get("mode", TRUST_PROVIDED, _trust_mode)
    primaries = [c.name for c in clusters if c.is_primary]
    if mode == TRUST_SELF_SIGNED and len(primaries) > 1:
        raise trust["mode"].fail(f"selfSigned gives each of the {len(primaries)} primaries ({', '.join(primaries)}) "
                                 f"its own root, so cross-cluster mTLS fails; use provided", mode)
    return MeshSettings(
        id=mesh_id or "",
        trust_domain=at.get("trustDomain", CLUSTER_DOMAIN,
                            lambda c: c.string(pattern=DNS_SUBDOMAIN_RE, what="a trust domain (a DNS name)")),
        trust_mode=mode)


def _trust_mode(at: Cursor) -> str:
    if at.raw == TRUST_GENERATE:
        raise at.fail(f"not in this release; allowed: {', '.join(TRUST_MODES)}", at.raw)
    return at.string(choices=TRUST_MODES)


def _placement(at: Cursor, application: Application,
               clusters: tuple[ClusterSettings, ...]) -> tuple[dict, dict[str, str]]:
    """Service → version → clusters, and store → its one cluster (the first primary
    unless named: every store is placed, so nothing downstream guesses)."""
    at = at.mapping()
    names = tuple(c.name for c in clusters)
    store_names = tuple(store.name for store in application.stores)
    placement: dict[str, dict[str, tuple[str, ...]]] = {}
    first_primary = next(c.name for c in clusters if c.is_primary)
    store_placement = {name: first_primary for name in store_names}
    for service_name in at.keys():
        if service_name in store_names:
            store_placement[service_name] = _store_cluster(at[service_name], names)
            continue
        if service_name not in application.service_names:
            what = "service or store" if store_names else "service"
            raise at[service_name].fail(f"no such {what} in {application.name}; allowed: "
                                        f"{', '.join(application.service_names + store_names)}")
        service = application.service(service_name)
        versions = at[service_name].mapping()
        placement[service_name] = {}
        for version in versions.keys():
            if version not in service.version_names:
                raise versions[version].fail(f"no such version of {service_name}; allowed: "
                                             f"{', '.join(service.version_names)}")
            placement[service_name][version] = versions[version].strings(choices=names)
    return placement, store_placement


def _store_cluster(at: Cursor, names: tuple[str, ...]) -> str:
    """A store's placement has the shape of a version's, a list of clusters, of
    exactly one: two StatefulSets would each hold their own copy of the data and
    split it silently by where a request lands."""
    if isinstance(at.raw, dict):
        raise at.fail(f"a store has no versions: give the one cluster it runs in as a list, e.g. [{names[0]}]",
                      at.raw)
    placed = at.strings(choices=names)
    if len(placed) > 1:
        raise at.fail("a store keeps one copy of its data: name exactly one cluster (its client Service is in "
                      "every cluster)", list(placed))
    return placed[0]

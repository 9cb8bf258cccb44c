"""Rules about mutual TLS as PeerAuthentications (what a server accepts) and
DestinationRules (what a client sends) set it, the way Kiali judges them: one side
disabling mTLS where the other enforces it, and AuthorizationPolicies that name
identities (principals, namespaces) where mTLS, which carries them, is off.

Levels of setting, most specific first: the workload (a PeerAuthentication selecting
it, a DestinationRule for a Service selecting it), the namespace (a PeerAuthentication
without selector, a DestinationRule for `*.<ns>.svc.cluster.local`), the mesh (a
PeerAuthentication without selector in the root namespace, a DestinationRule for
`*.local`). Where none decides, istiod's `enableAutoMtls` (mesh config, default on)
does."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from model.analysis.findings import ERROR
from model.analysis.index import ISTIO_NAMESPACE, Index, Workload, as_list, fqdn, selects, spec_of
from model.analysis.registry import rule

MESH_HOSTS = ("*.local", "*.cluster.local", "*")
ENABLING_PEER = ("STRICT", "PERMISSIVE")
IDENTITY_SOURCE_FIELDS = ("principals", "notPrincipals", "namespaces", "notNamespaces")
IDENTITY_CONDITIONS = ("source.principal", "source.namespace")
ENABLED, DISABLED = "enabled", "disabled"


def mesh_config(index: Index) -> Mapping:
    """istiod's mesh config from the `istio` ConfigMap of istio-system among the
    objects (its `mesh` key), or {} (Istio's defaults)."""
    import yaml  # only files with that ConfigMap need it; the policy pack's import stays light

    for config_map in index.of("ConfigMap"):
        if index.ns(config_map) == ISTIO_NAMESPACE and (config_map.get("metadata") or {}).get("name") == "istio":
            try:
                mesh = yaml.safe_load(str((config_map.get("data") or {}).get("mesh") or "")) or {}
            except yaml.YAMLError:
                return {}
            return mesh if isinstance(mesh, Mapping) else {}
    return {}


def auto_mtls(index: Index) -> bool:
    return mesh_config(index).get("enableAutoMtls", True) is not False


def _peer_mode(pa: Mapping) -> str:
    return str((spec_of(pa).get("mtls") or {}).get("mode") or "")


def _client_mode(dr: Mapping) -> str:
    return str(((spec_of(dr).get("trafficPolicy") or {}).get("tls") or {}).get("mode") or "")


def _selector(obj: Mapping) -> Mapping:
    labels = (spec_of(obj).get("selector") or {}).get("matchLabels")
    return labels if isinstance(labels, Mapping) else {}


class _Settings:
    """The mTLS settings of the objects, by level; built once per rule run."""

    def __init__(self, index: Index):
        self.index = index
        self.namespace_peer: dict[str, Mapping] = {}
        self.workload_peers: dict[tuple, list[Mapping]] = {}
        """(namespace, one label of its selector) → workload PeerAuthentications."""
        for pa in index.of("PeerAuthentication"):
            if _selector(pa):
                label = sorted((str(k), str(v)) for k, v in _selector(pa).items())[0]
                self.workload_peers.setdefault((index.ns(pa), *label), []).append(pa)
            else:
                self.namespace_peer.setdefault(index.ns(pa), pa)
        self.mesh_peer = self.namespace_peer.get(ISTIO_NAMESPACE)
        self.namespace_client: dict[str, Mapping] = {}
        self.mesh_client: Mapping | None = None
        for dr in index.of("DestinationRule"):
            host = str(spec_of(dr).get("host") or "")
            if host in MESH_HOSTS:
                self.mesh_client = self.mesh_client or dr
            elif host.startswith("*.") and host.endswith(".svc.cluster.local") and host.count(".") == 4:
                self.namespace_client.setdefault(host.split(".")[1], dr)
        self.namespace_wide = {id(dr) for dr in self.namespace_client.values()}

    @staticmethod
    def _decide(peer: Mapping | None, client: Mapping | None) -> str | None:
        peer_mode = _peer_mode(peer) if peer else ""
        client_mode = _client_mode(client) if client else ""
        if "DISABLE" in (peer_mode, client_mode):
            return DISABLED
        if peer_mode in ENABLING_PEER and client_mode == "ISTIO_MUTUAL":
            return ENABLED
        return None

    def workload_level(self, namespace: str, labels: Mapping) -> str | None:
        if not labels:
            return None
        peers = [pa for key, value in labels.items() for pa in self.workload_peers.get((namespace, str(key), str(value)), ())
                 if selects(_selector(pa), labels)]
        # The Services that would select the policy's workloads, looked up by label.
        workload = Workload(obj={}, kind="", namespace=namespace, name="", labels=labels, annotations={}, pod_spec={})
        clients = [dr for service in self.index.services_selecting(workload)
                   for dr in self.index.destination_rules_for(fqdn(str((service.get("metadata") or {}).get("name")),
                                                                   namespace), namespace)]
        return self._decide(peers[0] if peers else None, clients[0] if clients else None)

    def status(self, namespace: str, labels: Mapping) -> str:
        for decided in (self.workload_level(namespace, labels),
                        self._decide(self.namespace_peer.get(namespace), self.namespace_client.get(namespace)),
                        self._decide(self.mesh_peer, self.mesh_client)):
            if decided:
                return decided
        return ENABLED if auto_mtls(self.index) else DISABLED


def _names_identities(policy: Mapping) -> bool:
    for policy_rule in as_list(spec_of(policy).get("rules")):
        for block in as_list((policy_rule or {}).get("from")):
            source = (block or {}).get("source") or {}
            if isinstance(source, Mapping) and any(source.get(f) for f in IDENTITY_SOURCE_FIELDS):
                return True
        for condition in as_list((policy_rule or {}).get("when")):
            if isinstance(condition, Mapping) and condition.get("key") in IDENTITY_CONDITIONS:
                return True
    return False


@rule("BM162", ERROR, "AuthorizationPolicy names principals or namespaces where mTLS is disabled",
      kiali="KIA0105")
def identities_without_mtls(index: Index) -> Iterable:
    settings = None
    for policy in index.of("AuthorizationPolicy"):
        if not _names_identities(policy):
            continue
        settings = settings or _Settings(index)
        if settings.status(index.ns(policy), _selector(policy)) == DISABLED:
            yield policy, ("its rules name principals or namespaces, which only mTLS carries, and mTLS is disabled "
                           "for the workloads it selects (PeerAuthentication, DestinationRule or enableAutoMtls)")


@rule("BM161", ERROR, "mTLS disabled on one side (PeerAuthentication or DestinationRule) where the other "
      "enforces it for the mesh or namespace", kiali="KIA0505/KIA0506/KIA0208")
def mtls_sides_disagree(index: Index) -> Iterable:
    settings = _Settings(index)
    mesh_client_mode = _client_mode(settings.mesh_client) if settings.mesh_client else ""
    for namespace, pa in settings.namespace_peer.items():
        if _peer_mode(pa) != "DISABLE":
            continue
        if namespace == ISTIO_NAMESPACE:
            if mesh_client_mode == "ISTIO_MUTUAL":
                yield pa, (f"disables mTLS mesh-wide while DestinationRule {index.ref(settings.mesh_client)} "
                           "sends ISTIO_MUTUAL to every host"), None, "KIA0506"
            continue
        client = settings.namespace_client.get(namespace) or settings.mesh_client
        if client is not None and _client_mode(client) == "ISTIO_MUTUAL":
            yield pa, (f"disables mTLS for namespace {namespace} while DestinationRule {index.ref(client)} sends "
                       "ISTIO_MUTUAL to its hosts"), None, "KIA0505"
    for dr in index.of("DestinationRule"):
        if _client_mode(dr) != "DISABLE":
            continue
        host = str(spec_of(dr).get("host") or "")
        if host in MESH_HOSTS:
            peer = settings.mesh_peer
        elif id(dr) in settings.namespace_wide:
            namespace = host.split(".")[1]
            peer = settings.namespace_peer.get(namespace) or settings.mesh_peer
        else:
            continue
        if peer is not None and _peer_mode(peer) == "STRICT":
            yield dr, (f"disables mTLS for {host} while PeerAuthentication {index.ref(peer)} requires it (STRICT): "
                       "its clients' requests are refused"), None, "KIA0208"

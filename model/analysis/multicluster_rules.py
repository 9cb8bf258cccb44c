"""The multi-cluster codes in the one catalogue. Unlike the one-cluster rules they
do not read the object index: they run on the cluster plans of a multi-cluster
stack (`model.multicluster.analysis`), so their `run` finds nothing in an index.
MC113 reads the index like any one-cluster rule (`model.analysis.locality`)."""
from __future__ import annotations

from model.analysis.findings import ERROR, WARNING
from model.analysis.registry import rule

ON_PLANS = "run on the cluster plans of a stack with clusters"
RULES = {
    "MC101": (ERROR, "cluster key not a DNS-1123 label, or named twice"),
    "MC102": (ERROR, "remote Secret data key, annotation or name suffix differs from the source cluster's clusterName"),
    "MC103": (ERROR, "a primary lacks the remote Secret of another cluster, or holds one for itself (ignored)"),
    "MC104": (ERROR, "global.meshID differs between clusters, or is unset with several clusters"),
    "MC105": (ERROR, "trust: primaries without cacerts, other roots, a partial bundle, cacerts not before istiod, "
                     "or trust domains differ"),
    "MC106": (ERROR, "istio-system network label missing or not global.network; networkGateway not the cluster's "
                     "network"),
    "MC107": (ERROR, "a network with workloads but no east-west gateway, or a gateway without cross-network-gateway "
                     "(or selecting other pods or another port)"),
    "MC108": (ERROR, "the gateway's tls port moved from 15443 without the networking.istio.io/gatewayPort label"),
    "MC109": (ERROR, "a remote without remotePilotAddress, with another injection path or control-plane annotation; "
                     "its primary without externalIstiod or istiod-gateway"),
    "MC110": (ERROR, "a remote Secret's kubeconfig runs a program, reads a file or names a local API server"),
    "MC111": (ERROR, "traffic objects differ between primaries, or are applied to a remote"),
    "MC112": (WARNING, "a Service called from a cluster is not defined there and DNS capture is off"),
    "MC114": (ERROR, "a route share to versions only on other networks whose gateway is not exposed"),
    "MC115": (WARNING, "one Service name headless, of another type or with other ports across clusters (IST0170)"),
    "MC116": (ERROR, "a resource without an explicit provider, or one Pulumi name in two clusters"),
}


def _on_plans(index):  # noqa: ARG001 -- found by model.multicluster.analysis, not in an index
    return ()


for _code, (_level, _doc) in RULES.items():
    rule(_code, _level, _doc, istio="IST0170" if _code == "MC115" else "", other=ON_PLANS)(_on_plans)

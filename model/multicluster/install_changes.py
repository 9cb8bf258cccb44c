"""What a change does to the install of a mesh over several clusters, one line per
fact of the `mesh` and `clusters` settings: a cluster added or removed, a role, a
network move, a control plane, an east-west gateway's Service type or address (or
that it is read from the cluster), an API server, the mesh ID, trust domain or
trust mode. `meshplan diff` shows them in
their own section: some (an API server inside a remote Secret, a primary's gateway
address) show in no resource's inputs. Pure: no Pulumi imports."""
from __future__ import annotations

from dataclasses import dataclass

from model.settings.cluster_types import ClusterSettings, MultiClusterSettings

NONE_SHOWN = "(none)"
# Why a fact matters, said beside its change.
NOTES = {"network": "network move", "trustDomain": "every workload identity changes", "mode": "trust rotation: a new root",
         "id": "every istiod's global.meshID"}


@dataclass(frozen=True, kw_only=True)
class InstallChange:
    path: str
    """The settings key (`clusters.west.network`), or `clusters.<name>` for a cluster added or removed."""
    change: str
    """`added`, `removed` or `changed`."""
    before: str | None = None
    after: str | None = None
    note: str = ""

    def __str__(self) -> str:
        if self.change == "changed":
            line = f"{self.path}: {self.before or NONE_SHOWN} → {self.after or NONE_SHOWN}"
        else:
            line = f"{self.path} {self.change}: {self.after if self.change == 'added' else self.before}"
        return f"{line} ({self.note})" if self.note else line

    def as_json(self) -> dict:
        shown = {"path": self.path, "change": self.change, "before": self.before, "after": self.after}
        return {**shown, "note": self.note} if self.note else shown


def _facts(cluster: ClusterSettings) -> dict[str, str | None]:
    return {"role": cluster.role, "network": cluster.network or None, "controlPlane": cluster.control_plane,
            "eastWest.serviceType": cluster.east_west.service_type, "eastWest.address": cluster.east_west.address,
            "eastWest.discover": "true" if cluster.east_west.discover else None, "apiServer": cluster.api_server}


def _described(cluster: ClusterSettings) -> str:
    """A cluster in a few words: `remote of east on net-west`."""
    role = f"remote of {cluster.control_plane}" if cluster.control_plane else cluster.role
    return f"{role} on {cluster.network}" if cluster.network else role


def install_changes(before: MultiClusterSettings | None, after: MultiClusterSettings | None) -> list[InstallChange]:
    """The install facts that differ, mesh first, then each cluster in the proposed
    order and the removed ones; none when neither side has clusters."""
    if before is None and after is None:
        return []
    found = []
    mesh_before = before.mesh if before else None
    mesh_after = after.mesh if after else None
    for key, attribute in (("id", "id"), ("trustDomain", "trust_domain"), ("trust.mode", "trust_mode")):
        old = getattr(mesh_before, attribute) if mesh_before else None
        new = getattr(mesh_after, attribute) if mesh_after else None
        if (old or None) != (new or None):
            found.append(InstallChange(path=f"mesh.{key}", change="changed", before=old or None, after=new or None,
                                       note=NOTES[key.rsplit(".", 1)[-1]]))
    old_clusters = {c.name: c for c in before.clusters} if before else {}
    new_clusters = {c.name: c for c in after.clusters} if after else {}
    for name, cluster in new_clusters.items():
        if name not in old_clusters:
            found.append(InstallChange(path=f"clusters.{name}", change="added", after=_described(cluster)))
            continue
        old_facts, new_facts = _facts(old_clusters[name]), _facts(cluster)
        found += [InstallChange(path=f"clusters.{name}.{key}", change="changed", before=old_facts[key],
                                after=new_facts[key], note=NOTES.get(key, ""))
                  for key in new_facts if old_facts[key] != new_facts[key]]
    found += [InstallChange(path=f"clusters.{name}", change="removed", before=_described(cluster))
              for name, cluster in old_clusters.items() if name not in new_clusters]
    return found

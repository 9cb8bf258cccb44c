"""Ways to print a rendered stack: a readable summary (resource tree, stacks read and
traffic shares), the JSON record of every registration and read, and a
multi-document Kubernetes manifest."""
from __future__ import annotations

import json

import yaml

from meshplan.render.recording import Rendered, holds
from model.names import CONFIG_FILE_TYPE, HELM_RELEASE_TYPE, STACK_REFERENCE_TYPE
from model.settings import SECRET_NOT_SET_SHOWN, secret_not_set
from model.route_aspects import route_aspects
from model.traffic import format_percent, traffic_table


def as_json(rendered: Rendered) -> str:
    return json.dumps(rendered.as_json(), indent=2) + "\n"


class _ManifestDumper(yaml.SafeDumper):
    """Block-style YAML that keeps the key order of the objects as built."""


_ManifestDumper.add_representer(
    dict, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data.items())
)


def as_yaml(rendered: Rendered) -> str:
    lines = [f"# bookinfo-mesh stack {rendered.stack} ({rendered.source})"]
    releases = rendered.releases()
    if releases:
        lines.append("# Helm releases (installed by the program, not part of this manifest):")
        for release in releases:
            i = release.inputs
            repo = (i.get("repositoryOpts") or {}).get("repo", "")
            lines.append(f"#   {i.get('name')}: chart {i.get('chart')} {i.get('version')} from {repo}"
                         f" in namespace {i.get('namespace')}")
    files = [r.inputs.get("file") for r in rendered.resources if r.type == CONFIG_FILE_TYPE]
    if files:
        lines.append("# Manifest files (applied by the program from where they are published, not part of this manifest):")
        lines += [f"#   {file}" for file in files]
    stacks, cluster = _reads(rendered)
    if stacks:
        lines.append("# Stacks read (StackReferences; their outputs are not part of this manifest):")
        lines += [f"#   {name}" for name in stacks]
    if cluster:
        lines.append(f"# {CLUSTER_READS}:")
        lines += [f"#   {name}" for name in cluster]
    mc = rendered.settings.multicluster
    clusters = {name: cluster for name, _, cluster in rendered.provider_clusters()} if mc else {}
    # With several clusters each document says where it is applied (kubectl ignores the comment).
    documents = [(f"# cluster: {clusters.get(r.name)}\n" if mc else "") +
                 yaml.dump(_manifest_order(r.inputs), Dumper=_ManifestDumper, default_flow_style=False,
                           sort_keys=False)
                 for r in rendered.resources if r.is_kubernetes_object]
    return "\n".join(lines) + "\n---\n" + "---\n".join(documents)


_HEAD = ("apiVersion", "kind", "metadata")
CLUSTER_READS = "Cluster objects read (by pulumi preview and up; not read offline)"


def _reads(rendered: Rendered) -> tuple[list[str], list[str]]:
    """Names of the stacks read, and `<kind> <name>` of the cluster objects read."""
    stacks = [read["name"] for read in rendered.reads if read["type"] == STACK_REFERENCE_TYPE]
    cluster = [f"{read['type'].rpartition(':')[2]} {read['id']}" for read in rendered.reads
               if read["type"] != STACK_REFERENCE_TYPE]
    return stacks, cluster


def _manifest_order(obj: dict) -> dict:
    """apiVersion, kind and metadata first, as people write manifests."""
    return {**{k: obj[k] for k in _HEAD if k in obj}, **{k: v for k, v in obj.items() if k not in _HEAD}}


def cluster_header(rendered: Rendered) -> list[str]:
    """The mesh and its clusters, for a stack with `clusters`: who runs istiod, who
    is served by whom, on which network, where the other networks reach it and
    whose API servers a primary reads (the remote Secrets it holds)."""
    from model.multicluster.paths import address_shown, eastwest_cell, remote_secrets_cell

    mc = rendered.settings.multicluster
    rows = [("cluster", "role", "network", "control plane", "east-west gateway", "remote secrets")]
    for c in mc.clusters:
        if c.is_primary:
            plane = "istiod " + rendered.settings.istio.version
        else:
            plane = " ".join(filter(None, ("→", c.control_plane, address_shown(mc.cluster(c.control_plane)))))
        rows.append((c.name, c.role, c.network or "—", plane, eastwest_cell(mc, c), remote_secrets_cell(mc, c)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    # A store keeps one copy of its data: say which cluster holds it.
    stores = [f"stores: {', '.join(f'{store} in {cluster}' for store, cluster in mc.store_placement.items())}"] \
        if mc.store_placement else []
    return [f"mesh {mc.mesh.id or '—'} · trust domain {mc.mesh.trust_domain} · trust {mc.mesh.trust_mode}",
            *("  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths)) + f"  {row[-1]}" for row in rows),
            *stores, ""]


def summary(rendered: Rendered) -> str:
    out = [f"{rendered.project} · stack {rendered.stack} · {rendered.source} · "
           f"{len(rendered.resources)} resources", ""]
    mc = rendered.settings.multicluster
    if mc is not None:
        out += cluster_header(rendered)
    children: dict[str | None, list] = {}
    unset_secrets = bool(rendered.settings.secrets_not_set)
    for resource in rendered.resources:
        children.setdefault(resource.parent, []).append(resource)

    def walk(parent: str | None, prefix: str) -> None:
        items = children.get(parent, [])
        for index, resource in enumerate(items):
            last = index == len(items) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            flags = "  [protected]" if resource.protect else ""
            if unset_secrets and holds(resource.inputs, SECRET_NOT_SET_SHOWN):
                flags += f"  {SECRET_NOT_SET_SHOWN}"
            out.append(f"{prefix}{branch}{resource.type}  {resource.name}{_detail(resource)}{flags}")
            walk(resource.urn, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    stacks, cluster = _reads(rendered)
    if stacks:
        out += ["", "Stacks read (StackReferences)"] + [f"  {name}" for name in stacks]
    if cluster:
        out += ["", CLUSTER_READS] + [f"  {name}" for name in cluster]
    objects = rendered.mesh_objects()
    table = traffic_table(objects)
    if table and mc is not None:
        out += ["", *host_paths(rendered, table, objects)]
    elif table:
        out += ["", "Traffic (effective share of each destination per route)"]
        width = max(len(route_object(s)) for s in table)
        route_width = min(max(len(s.route) for s in table), 40)
        for share in table:
            target = share.host + (f" {share.subset}" if share.subset else "")
            out.append(f"  {route_object(share):<{width}}  "
                       f"{clip(share.route, route_width):<{route_width}}  {target:<22} {format_percent(share.percent):>6}")
    aspects = route_aspects(objects)
    if aspects:
        out += ["", "Route faults, mirrors, timeouts and retries"]
        width = max(len(route_object(a)) for a in aspects)
        route_width = min(max(len(a.route) for a in aspects), 40)
        for a in aspects:
            out.append(f"  {route_object(a):<{width}}  "
                       f"{clip(a.route, route_width):<{route_width}}  {a.reading}")
    return "\n".join(out) + "\n"


def host_paths(rendered: Rendered, table, objects) -> list[str]:
    """The traffic of a stack with `clusters`, per destination host: each version's
    share, the clusters serving it and the path from clients in each network (one
    view when it is the same from every network)."""
    from model.multicluster.paths import LOCALITY_NOTE, clients_in, host_views, prefers_locality
    from model.names import fqdn

    mc = rendered.settings.multicluster
    ports = {fqdn(o["metadata"]["name"], o["metadata"].get("namespace", "")): (o.get("spec") or {}).get("ports")[0]["port"]
             for o in objects if o.get("kind") == "Service" and (o.get("spec") or {}).get("ports")}
    versions = {name: service.versions for name, service in rendered.settings.services.items()}
    views = host_views(mc, table, versions=versions, fqdn_of=lambda share: fqdn(share.host, share.namespace), ports=ports)
    rules = [o for o in objects if o.get("kind") == "DestinationRule"]
    out = [f"Traffic (effective share of each destination per route), applied to primaries "
           f"{', '.join(c.name for c in mc.primaries)}; per host the clusters serving each version and the path"]
    for view in views:
        out += ["", f"{view.host} — from clients in {clients_in(mc, view.networks)}"]
        head = ("route", "version", "share", "clusters", "path")
        rows = [(clip(row.route, 50), row.version, format_percent(row.percent), ", ".join(row.clusters) or "—", row.path)
                for row in view.rows]
        if not view.every_route:
            head, rows = head[1:], [row[1:] for row in rows]
        widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head) - 1)]
        out += ["  " + "  ".join(f"{cell:<{w}}" for cell, w in zip(r, widths)) + f"  {r[-1]}" for r in (head, *rows)]
        if prefers_locality(rules, view.host.rsplit(":", 1)[0], fqdn):
            out.append(f"  {LOCALITY_NOTE}")
    return out


def secrets_not_set_warnings(rendered: Rendered) -> list[str]:
    """A warning line per secret the rendered stack file does not hold yet: the
    render shows it as not set; `pulumi preview` stops on the same line."""
    settings = rendered.settings
    return [f"warning: {secret_not_set(key, stack=settings.stack, source=settings.source)}\n"
            for key in settings.secrets_not_set]


def route_object(row) -> str:
    """The route object a traffic or aspect row belongs to: `namespace/name`, its kind
    first when it is not a VirtualService (`HTTPRoute bookinfo/reviews`)."""
    name = f"{row.namespace}/{row.virtual_service}"
    return name if row.kind == "VirtualService" else f"{row.kind} {name}"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _detail(resource) -> str:
    inputs = resource.inputs
    if resource.type == HELM_RELEASE_TYPE:
        return f"  ({inputs.get('chart')} {inputs.get('version')} → ns {inputs.get('namespace')})"
    if resource.type == CONFIG_FILE_TYPE:
        return f"  ({inputs.get('file')})"
    metadata = inputs.get("metadata") or {}
    if metadata.get("namespace"):
        return f"  ({metadata['namespace']}/{metadata.get('name')})"
    return ""


# --------------------------------------------------------------------------- findings


def findings_text(findings) -> str:
    """One line per finding: `<level> [<code>] <Kind> <namespace>/<name>: <message>`."""
    return "".join(f"{f}\n" for f in findings)


def findings_json(findings) -> str:
    return json.dumps({"findings": [f.as_json() for f in findings]}, indent=2) + "\n"

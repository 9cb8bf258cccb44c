"""Multi-cluster stack files for `parse_clusters`: each with the one line expected
(after the file name) or OK. Not yet in STACK_FILES: `parse_settings` does not read
these keys until the program builds what they describe."""
from __future__ import annotations

OK = "OK"
SECRET = "{secure: v1:AAAA}"


def stack(clusters: str, *, mesh: str = "{id: mesh1}", extra: str = "", environment: str = "staging",
          secrets: tuple[str, ...] = ("kubeconfig-east", "kubeconfig-west", "cacerts-east", "cacerts-west")) -> str:
    lines = [f"  bookinfo-mesh:environment: {environment}", f"  bookinfo-mesh:mesh: {mesh}",
             "  bookinfo-mesh:clusters:"] + [f"    {line}" for line in clusters.strip("\n").splitlines()]
    lines += [f"  bookinfo-mesh:{key}: {SECRET}" for key in secrets]
    return "config:\n" + "\n".join(lines) + "\n" + extra


EAST = "east: {role: primary, network: net-east, apiServer: 'https://10.0.0.10:6443', eastWest: {address: 34.75.71.237}}"
WEST_PRIMARY = "west: {role: primary, network: net-west, apiServer: 'https://10.1.0.10:6443'}"
WEST_REMOTE = "west: {role: remote, network: net-west, controlPlane: east, apiServer: 'https://10.1.0.10:6443'}"
MULTI_PRIMARY = f"{EAST}\n{WEST_PRIMARY}"
PRIMARY_REMOTE = f"{EAST}\n{WEST_REMOTE}"
AT = "{file}: bookinfo-mesh:"


def bms(placement: str) -> str:
    """BookManagementSystem's stack lines (egress gateway, the database password set)
    with this `app.placement`."""
    return ("  bookinfo-mesh:istio: {egressGateway: {enabled: true}}\n"
            f"  bookinfo-mesh:databasePassword: {SECRET}\n"
            f"  bookinfo-mesh:app: {{name: bms, placement: {placement}}}\n")


def west(**changed: str) -> str:
    fields = {"role": "remote", "network": "net-west", "controlPlane": "east", "apiServer": "'https://10.1.0.10:6443'"}
    fields.update(changed)
    return f"{EAST}\nwest: {{{', '.join(f'{k}: {v}' for k, v in fields.items() if v)}}}"


CLUSTER_STACKS: dict[str, tuple[str, str]] = {
    "multi-primary accepted": (stack(MULTI_PRIMARY), OK),
    "primary-remote accepted": (stack(PRIMARY_REMOTE), OK),
    "one primary, self-signed, no cacerts": (stack(EAST, mesh="{trust: {mode: selfSigned}}",
                                                   secrets=("kubeconfig-east",)), OK),
    "kind context in dev accepted": (stack(EAST.replace("}}", "}, kubeconfig: {context: kind-east}}"),
                                           mesh="{trust: {mode: selfSigned}}", environment="dev", secrets=()), OK),
    "stack reference kubeconfig accepted": (stack(EAST.replace("}}", "}, kubeconfig: {stackRef: org/infra/east, output: kubeconfig}}"),
                                                  mesh="{trust: {mode: selfSigned}}", secrets=()), OK),
    # --- names
    "cluster name not DNS-1123": (stack(MULTI_PRIMARY.replace("west:", "West:")),
        f'{AT}clusters.West = "West": expected a cluster name: a DNS-1123 label (lowercase letters, digits and '
        "'-', at most 63 characters), used as clusterName and remote-secret key"),
    "cluster name with underscore": (stack(MULTI_PRIMARY.replace("west:", "us_west:")),
        f'{AT}clusters.us_west = "us_west": expected a cluster name: a DNS-1123 label (lowercase letters, digits '
        "and '-', at most 63 characters), used as clusterName and remote-secret key"),
    "cluster named like a default provider": (stack(MULTI_PRIMARY.replace("west:", "default-west:")),
        f'{AT}clusters.default-west = "default-west": the cluster\'s provider is named after it, and the engine '
        "takes a provider whose name starts with 'default' for one it made itself (pulumi "
        "providers.IsDefaultProvider), which strict mode refuses; name the cluster otherwise"),
    "duplicate cluster name": (stack(f"{EAST}\n{EAST}"),
        "{file}: line 6, column 5: key 'east' given twice in one mapping (the last would silently win)"),
    "two clusters on one kubeconfig": (stack(f"{EAST}\n" + WEST_PRIMARY.replace("}", ", kubeconfig: {secret: kubeconfig-east}}")),
        f'{AT}clusters.west.kubeconfig = "kubeconfig-east": the kubeconfig of cluster east too: each cluster needs its own'),
    # --- roles
    "no primary": (stack(WEST_REMOTE.replace("controlPlane: east", "controlPlane: west")),
        f"{AT}clusters: no primary: at least one cluster needs role: primary (its own istiod)"),
    "remote without control plane": (stack(west(controlPlane="")),
        f"{AT}clusters.west.controlPlane: required for a remote: the primary whose istiod serves it; primaries: east"),
    "remote naming an unknown cluster": (stack(west(controlPlane="north")),
        f'{AT}clusters.west.controlPlane = "north": no such cluster, not a primary; primaries: east'),
    "remote naming a remote": (stack(west() + "\nsouth: {role: remote, network: net-s, controlPlane: west, "
                                     "apiServer: 'https://10.2.0.10:6443'}", secrets=("kubeconfig-east", "kubeconfig-west", "kubeconfig-south", "cacerts-east")),
        f'{AT}clusters.south.controlPlane = "west": a remote, not a primary; primaries: east'),
    "primary naming a control plane": (stack(MULTI_PRIMARY.replace("role: primary, network: net-west", "role: primary, controlPlane: east, network: net-west")),
        f'{AT}clusters.west.controlPlane = "east": only a remote names a control plane; a primary runs its own istiod'),
    "unknown role": (stack(west(role="secondary")), f'{AT}clusters.west.role = "secondary": allowed: primary, remote'),
    "role missing": (stack(west(role="")), f"{AT}clusters.west.role: required: primary or remote"),
    "unknown cluster key": (stack(west(netwrok="x")),
        f"{AT}clusters.west.netwrok: unknown key; did you mean network? allowed: role, network, controlPlane, "
        "kubeconfig, apiServer, eastWest"),
    "network missing": (stack(west(network="")),
        f"{AT}clusters.west.network: required with several clusters: global.network and the istio-system network "
        "label (the same name for clusters that reach each other's pods)"),
    # --- mesh and trust
    "mesh id missing": (stack(MULTI_PRIMARY, mesh="{}"),
        f"{AT}mesh.id: required with several clusters: global.meshID, the same on every cluster"),
    "a cluster with its own mesh id": (stack(west(meshID="mesh2")),
        f'{AT}clusters.west.meshID = "mesh2": one value for every cluster of the mesh: set it once under '
        "bookinfo-mesh:mesh (different mesh IDs or trust between clusters break cross-cluster mTLS)"),
    "a cluster with its own trust domain": (stack(west(trustDomain="west.local")),
        f'{AT}clusters.west.trustDomain = "west.local": one value for every cluster of the mesh: set it once under '
        "bookinfo-mesh:mesh (different mesh IDs or trust between clusters break cross-cluster mTLS)"),
    "trust generate refused": (stack(MULTI_PRIMARY, mesh="{id: mesh1, trust: {mode: generate}}"),
        f'{AT}mesh.trust.mode = "generate": not in this release; allowed: provided, selfSigned'),
    "self-signed with two primaries": (stack(MULTI_PRIMARY, mesh="{id: mesh1, trust: {mode: selfSigned}}"),
        f'{AT}mesh.trust.mode = "selfSigned": selfSigned gives each of the 2 primaries (east, west) its own root, '
        "so cross-cluster mTLS fails; use provided"),
    "cacerts in plaintext": (stack(MULTI_PRIMARY, secrets=("kubeconfig-east", "kubeconfig-west", "cacerts-east"),
                                   extra="  bookinfo-mesh:cacerts-west: '{\"ca-cert.pem\": \"x\"}'\n"),
        f"{AT}cacerts-west: holds plaintext; an intermediate CA bundle (a JSON object with ca-cert.pem, ca-key.pem, "
        "root-cert.pem, cert-chain.pem) must be a Pulumi secret: set it with `pulumi config set --secret cacerts-west <value>`"),
    "cacerts not set": (stack(MULTI_PRIMARY, secrets=("kubeconfig-east", "kubeconfig-west", "cacerts-east")),
        f"{AT}cacerts-west: not set; set it with pulumi config set --secret cacerts-west <value> --stack test"),
    "ambient with two clusters": (stack(MULTI_PRIMARY, extra="  bookinfo-mesh:istio: {dataPlane: ambient}\n"),
        f'{AT}istio.dataPlane = "ambient": ambient with 2 clusters is not supported (ambient multicluster needs the '
        "HBONE east-west gateway and one root, open gaps in Istio 1.30.3); use istio.dataPlane=sidecar"),
    "Istio not installed by the stack": (stack(MULTI_PRIMARY, extra="  bookinfo-mesh:istio: {install: false}\n"),
        f"{AT}istio.install = false: a mesh over several clusters installs Istio in each (cluster ID, network, mesh "
        "ID and trust are chart values); remove istio.install"),
    # --- kubeconfig and API server
    "kubeconfig in plaintext": (stack(MULTI_PRIMARY, secrets=("kubeconfig-west", "cacerts-east", "cacerts-west"),
                                      extra="  bookinfo-mesh:kubeconfig-east: 'apiVersion: v1'\n"),
        f"{AT}kubeconfig-east: holds plaintext; a kubeconfig must be a Pulumi secret: set it with "
        "`pulumi config set --secret kubeconfig-east <value>`"),
    "kubeconfig not set": (stack(MULTI_PRIMARY, secrets=("kubeconfig-west", "cacerts-east", "cacerts-west")),
        f"{AT}kubeconfig-east: not set; set it with pulumi config set --secret kubeconfig-east <value> --stack test"),
    "kubeconfig naming a setting": (stack(west(kubeconfig="{secret: istio}")),
        f'{AT}clusters.west.kubeconfig.secret = "istio": a setting of the stack, not a secret key; name an undeclared '
        "key such as kubeconfig-west"),
    "context outside dev": (stack(west(kubeconfig="{context: kind-west}")),
        f'{AT}clusters.west.kubeconfig.context = "kind-west": a local kubeconfig context is for environment dev only; '
        "in staging use {secret: NAME} or {stackRef: ORG/PROJECT/STACK, output: NAME}"),
    "two kubeconfig sources": (stack(west(kubeconfig="{secret: k, context: c}")),
        f'{AT}clusters.west.kubeconfig = {{"context": "c", "secret": "k"}}: give one of secret, stackRef (with output), '
        "context; got secret, context"),
    "stack reference without output": (stack(west(kubeconfig="{stackRef: org/infra/west}")),
        f"{AT}clusters.west.kubeconfig.output: required with stackRef: the name of the stack output holding the kubeconfig"),
    "localhost API server": (stack(west(apiServer="'https://127.0.0.1:6443'")),
        f'{AT}clusters.west.apiServer = "https://127.0.0.1:6443": a local address: the other clusters\' istiod '
        "cannot reach it; give the address they reach (e.g. the node or container IP)"),
    "localhost by name": (stack(west(apiServer="'https://localhost:6443'")),
        f'{AT}clusters.west.apiServer = "https://localhost:6443": a local address: the other clusters\' istiod '
        "cannot reach it; give the address they reach (e.g. the node or container IP)"),
    "plain http API server": (stack(west(apiServer="'http://10.1.0.10:6443'")),
        f'{AT}clusters.west.apiServer = "http://10.1.0.10:6443": expected an https URL of the API server such as '
        "https://10.0.0.10:6443"),
    "API server missing": (stack(west(apiServer="")),
        f"{AT}clusters.west.apiServer: required with several clusters: the https URL the other clusters' istiod "
        "reach this cluster's API server at"),
    # --- east-west gateway
    "primary of a remote without a gateway address": (stack(PRIMARY_REMOTE.replace(", eastWest: {address: 34.75.71.237}", "")),
        f"{AT}clusters.east.eastWest.address: required (or discover: true to read it from the gateway's Service): "
        "the remote west reaches this istiod through the east-west gateway (global.remotePilotAddress)"),
    "primary of a remote with a hostname gateway address": (
        stack(PRIMARY_REMOTE.replace("{address: 34.75.71.237}", "{address: a1b2.elb.us-east-1.amazonaws.com}")),
        f'{AT}clusters.east.eastWest.address = "a1b2.elb.us-east-1.amazonaws.com": the remote west takes it as '
        "global.remotePilotAddress, which must be an IP (with a hostname the remote's istiod Service is an "
        "ExternalName, which the API server cannot send the injection webhook to: istio/istio#29359); give a stable "
        "IP of the load balancer"),
    "primary without remotes may name its gateway by hostname": (
        stack(MULTI_PRIMARY.replace("{address: 34.75.71.237}", "{address: gw.east.example.com}")), OK),
    "primary of a remote discovering its gateway address accepted": (
        stack(PRIMARY_REMOTE.replace("{address: 34.75.71.237}", "{serviceType: LoadBalancer, discover: true}")), OK),
    "gateway address both given and discovered": (
        stack(PRIMARY_REMOTE.replace("{address: 34.75.71.237}", "{address: 34.75.71.237, discover: true}")),
        f"{AT}clusters.east.eastWest.discover = true: give address or discover, not both: one source of the "
        "gateway's address"),
    "gateway address discovered from a NodePort": (
        stack(PRIMARY_REMOTE.replace("{address: 34.75.71.237}", "{serviceType: NodePort, discover: true}")),
        f"{AT}clusters.east.eastWest.discover = true: a NodePort Service has no one address to read (every node "
        "serves it); give address, or serviceType LoadBalancer"),
    "gateway address discovered on a cluster without remotes": (stack(west(eastWest="{discover: true}")),
        f"{AT}clusters.west.eastWest.discover = true: only a primary with remotes reads its gateway's address "
        "(their global.remotePilotAddress); this cluster has none"),
    "gateway discover not a boolean": (
        stack(PRIMARY_REMOTE.replace("{address: 34.75.71.237}", "{discover: 'yes'}")),
        f'{AT}clusters.east.eastWest.discover = "yes": expected true or false'),
    "east-west ClusterIP": (stack(west(eastWest="{serviceType: ClusterIP}")),
        f'{AT}clusters.west.eastWest.serviceType = "ClusterIP": allowed: LoadBalancer, NodePort'),
    "east-west address on localhost": (stack(EAST.replace("34.75.71.237", "127.0.0.1") + "\n" + WEST_REMOTE),
        f'{AT}clusters.east.eastWest.address = "127.0.0.1": a local address: the other clusters cannot reach it'),
    # --- placement
    "placement naming an unknown cluster": (stack(PRIMARY_REMOTE, extra="  bookinfo-mesh:app: {placement: {reviews: {v3: [north]}}}\n"),
        f'{AT}app.placement.reviews.v3[0] = "north": allowed: east, west'),
    "placement naming an unknown version": (stack(PRIMARY_REMOTE, extra="  bookinfo-mesh:app: {placement: {reviews: {v4: [west]}}}\n"),
        f"{AT}app.placement.reviews.v4: no such version of reviews; allowed: v1, v2, v3"),
    "placement naming an unknown service": (stack(PRIMARY_REMOTE, extra="  bookinfo-mesh:app: {placement: {reviewz: {v1: [west]}}}\n"),
        f"{AT}app.placement.reviewz: no such service in bookinfo; allowed: details, ratings, reviews, productpage, mongodb"),
    "placement with no cluster": (stack(PRIMARY_REMOTE, extra="  bookinfo-mesh:app: {placement: {reviews: {v1: []}}}\n"),
        f"{AT}app.placement.reviews.v1 = []: expected a non-empty list"),
    # --- stores: one cluster each
    "store placed in one cluster accepted": (stack(MULTI_PRIMARY, extra=bms("{bookinfo-db: [west], bookinfo-core: {v1: [east]}}")), OK),
    "store placed in two clusters": (stack(MULTI_PRIMARY, extra=bms("{bookinfo-db: [east, west]}")),
        f'{AT}app.placement.bookinfo-db = ["east", "west"]: a store keeps one copy of its data: name exactly one '
        "cluster (its client Service is in every cluster)"),
    "store placed in an unknown cluster": (stack(MULTI_PRIMARY, extra=bms("{bookinfo-kafka: [north]}")),
        f'{AT}app.placement.bookinfo-kafka[0] = "north": allowed: east, west'),
    "store placed by version": (stack(MULTI_PRIMARY, extra=bms("{bookinfo-db: {v1: [east]}}")),
        f'{AT}app.placement.bookinfo-db = {{"v1": ["east"]}}: a store has no versions: give the one cluster it runs '
        "in as a list, e.g. [east]"),
    "store placed in no cluster": (stack(MULTI_PRIMARY, extra=bms("{bookinfo-db: []}")),
        f"{AT}app.placement.bookinfo-db = []: expected a non-empty list"),
    "placement naming neither a service nor a store": (stack(MULTI_PRIMARY, extra=bms("{bookinfo-dbx: [east]}")),
        f"{AT}app.placement.bookinfo-dbx: no such service or store in bms; allowed: bookinfo-core, bookinfo-rating, "
        "bookinfo-order, bookinfo-payment, bookinfo-db, bookinfo-kafka"),
}


SETTINGS_ONLY_STACKS: dict[str, tuple[str, str]] = {
    # Refused by parse_settings, which knows the traffic API the clusters would need.
    "gateway-api routes over clusters": (stack(MULTI_PRIMARY, extra="  bookinfo-mesh:traffic: {api: gateway-api}\n"),
        f'{AT}traffic.api = "gateway-api": a stack with bookinfo-mesh:clusters routes with traffic.api=istio in this '
        "release (its clusters get no Gateway API CRDs or HTTPRoutes)"),
}

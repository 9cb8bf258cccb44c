"""Malformed inputs for the hardening corpus: stack files, manifests and exported
states, each with the exact outcome expected (the one-line error after the file
name, or OK when the input must be accepted)."""
from __future__ import annotations

import json

OK = "OK"
MiB = 1024 * 1024


def stack(body: str = "", environment: str = "dev") -> str:
    return f"config:\n  bookinfo-mesh:environment: {environment}\n{body}"


def reviews(body: str) -> str:
    """A stack whose reviews service carries `body` (indented under reviews:)."""
    indented = "".join(f"      {line}\n" for line in body.splitlines())
    return stack(f"  bookinfo-mesh:services:\n    reviews:\n{indented}")


def laughs(levels: int = 9) -> str:
    lines = ["  bookinfo-mesh:x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for n in range(1, levels):
        refs = ", ".join([f"*a{n - 1}"] * 9)
        lines.append(f"  bookinfo-mesh:x{n}: &a{n} [{refs}]")
    return "config:\n" + "\n".join(lines) + "\n"


VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
      "metadata": {"name": "reviews", "namespace": "bookinfo"},
      "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}}
DR = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
      "metadata": {"name": "reviews", "namespace": "bookinfo"},
      "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}}
GW = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "bookinfo"},
      "spec": {"selector": {"istio": "ingressgateway"},
               "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}
SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews", "namespace": "bookinfo"},
       "spec": {"selector": {"app": "reviews"}, "ports": [{"port": 9080, "name": "http"}]}}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "reviews-v1", "namespace": "bookinfo"},
          "spec": {"selector": {"matchLabels": {"app": "reviews"}}, "template": {
              "metadata": {"labels": {"app": "reviews", "version": "v1"}},
              "spec": {"containers": [{"name": "reviews", "image": "reviews:1", "ports": [{"containerPort": 9080}]}]}}}}


def changed(obj: dict, path: str, value) -> str:
    """`obj` as JSON text (JSON is YAML) with the value at a dotted path replaced."""
    copy = json.loads(json.dumps(obj))
    *parents, last = path.split(".")
    at = copy
    for key in parents:
        at = at[int(key)] if isinstance(at, list) else at[key]
    if isinstance(at, list):
        at[int(last)] = value
    else:
        at[last] = value
    return json.dumps(copy)


def state(resources) -> str:
    return json.dumps({"version": 3, "deployment": {"resources": resources}})


def resource(inputs, **extra) -> dict:
    return {"urn": "urn:pulumi:dev::bookinfo-mesh::kubernetes:networking.istio.io/v1:VirtualService::r",
            "type": "kubernetes:networking.istio.io/v1:VirtualService", "custom": True, "inputs": inputs, **extra}


EGRESS = "  bookinfo-mesh:egress:\n    externalServices:\n      - {{host: {host}, ports: [{{number: 443, protocol: HTTPS}}]}}\n"
GATEWAY_API_ROUTES = "  bookinfo-mesh:traffic: {api: gateway-api}\n"
EXPERIMENTAL_CHANNEL = "  bookinfo-mesh:gatewayApi: {channel: experimental}\n"
JASON = "versions: [v1, v2]\nroutes:\n  - {{match: {{headers: {{end-user: {{{kind}: {value}}}}}}}, to: v2}}\nto: v1"
BMS = "  bookinfo-mesh:app: {name: bms}\n  bookinfo-mesh:istio: {egressGateway: {enabled: true}}\n"
STACK_FILES: dict[str, tuple[str | bytes, str | None]] = {
    # --- encoding and file-level structure
    "empty file": ("", OK),
    "binary content": (b"\x7fELF\x02\x01\x01\x00\x00\x00", '{file}: binary content (NUL bytes), not UTF-8 text'),
    "invalid utf-8": (b"config:\n  bookinfo-mesh:environment: d\xe9v\n",
        '{file}: not UTF-8 text (invalid byte at offset 38)'),
    "utf-16 with bom": ("config: {}\n".encode("utf-16"),
        '{file}: UTF-16 text (byte order mark); save it as UTF-8'),
    "utf-8 bom accepted": (b"\xef\xbb\xbf" + stack().encode(), OK),
    "control character": ("config:\n  bookinfo-mesh:environment: \x07dev\n",
        '{file}: character 38: invalid YAML (character #x0007 is not allowed in YAML text)'),
    "two documents": (stack() + "---\nconfig: {}\n", '{file}: document 2: a stack file holds one YAML document'),
    "top level list": ("- config\n", '{file} = ["config"]: expected a mapping with a config: key'),
    "top level scalar": ("hello\n", '{file} = "hello": expected a mapping with a config: key'),
    "unknown top-level key": ("config: {}\nconfg: {}\n",
        '{file}: confg: unknown top-level key; a stack file holds config:'),
    "config as list": ("config: [a, b]\n", '{file}: config = ["a", "b"]: expected a mapping'),
    "unclosed flow": ("config: {bookinfo-mesh:environment: dev\n",
        "{file}: line 2, column 1: invalid YAML (expected ',' or '}', but got '<stream end>')"),
    "tab indentation": ("config:\n\tbookinfo-mesh:environment: dev\n",
        "{file}: line 2, column 1: invalid YAML (found character '\\t' that cannot start any token)"),
    "python tag": ("config:\n  bookinfo-mesh:environment: !!python/object/apply:os.system [ls]\n",
        "{file}: line 2, column 30: invalid YAML (could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system')"),
    "undefined alias": ("config:\n  bookinfo-mesh:environment: *nothing\n",
        "{file}: line 2, column 30: invalid YAML (found undefined alias 'nothing')"),
    "recursive alias": ("config: &a\n  bookinfo-mesh:app: *a\n",
        '{file}: line 2, column 22: an alias inside the node it refers to (a recursive structure)'),
    # --- limits
    "billion laughs": (laughs(),
        '{file}: line 6, column 26: aliases expand to more than 10,000 nodes, the limit for a stack file'),
    "small alias reuse accepted": (stack("  bookinfo-mesh:app: &app {replicas: 2}\n"), OK),
    "deep flow nesting": ("config:\n  bookinfo-mesh:app: " + "[" * 5000 + "]" * 5000 + "\n",
        '{file}: line 2, column 84: nested deeper than 64 levels, the limit for a stack file'),
    "deep block nesting": ("config:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(80)) + "  " * 81 + "v\n",
 '{file}: line 64, column 127: nested deeper than 64 levels, the limit for a stack file'),
    "nesting within the limit reaches the parser": (
        stack("  bookinfo-mesh:app: " + "{a: " * 60 + "1" + "}" * 60 + "\n"),
        '{file}: bookinfo-mesh:app.a: unknown key; allowed: name, namespace, replicas, image, restrictedPods, resources, tracing, placement'),
    "50 MB value": (stack("  bookinfo-mesh:app: {name: '" + "x" * (50 * MiB) + "'}\n"),
        '{file}: larger than the 1 MiB limit for a stack file'),
    "50 MB of other projects' keys": (
        "config:\n" + "".join(f"  other:key{i}: {'v' * 100}\n" for i in range(400_000)),
        '{file}: larger than the 1 MiB limit for a stack file'),
    "long integer": (stack("  bookinfo-mesh:app: {replicas: " + "9" * 5000 + "}\n"),
        '{file}: line 3, column 33: a number of more than 100 digits'),
    # --- config lost without a word
    "duplicate project key": (stack("  bookinfo-mesh:app: {replicas: 1}\n  bookinfo-mesh:app: {replicas: 2}\n"),
        "{file}: line 4, column 3: key 'bookinfo-mesh:app' given twice in one mapping (the last would silently win)"),
    "duplicate nested key": (reviews("weights: {v1: 100, v1: 0}"),
        "{file}: line 5, column 26: key 'v1' given twice in one mapping (the last would silently win)"),
    "duplicate environment": ("config:\n  bookinfo-mesh:environment: dev\n  bookinfo-mesh:environment: prod\n",
        "{file}: line 3, column 3: key 'bookinfo-mesh:environment' given twice in one mapping (the last would silently win)"),
    "near-miss namespace underscore": ("config:\n  bookinfo_mesh:environment: dev\n",
        "{file}: config.bookinfo_mesh:environment: unknown namespace 'bookinfo_mesh'; did you mean bookinfo-mesh:? (keys of other namespaces are ignored)"),
    "near-miss namespace case": ("config:\n  Bookinfo-Mesh:environment: dev\n",
        "{file}: config.Bookinfo-Mesh:environment: unknown namespace 'Bookinfo-Mesh'; did you mean bookinfo-mesh:? (keys of other namespaces are ignored)"),
    "near-miss namespace typo": ("config:\n  bookinfo-mseh:environment: dev\n",
        "{file}: config.bookinfo-mseh:environment: unknown namespace 'bookinfo-mseh'; did you mean bookinfo-mesh:? (keys of other namespaces are ignored)"),
    "other project ignored": ("config:\n  kubernetes:context: kind\n  other:environment: dev\n", OK),
    "numeric image tag 1.20": (stack("  bookinfo-mesh:app:\n    image: {tag: 1.20}\n"),
        "{file}: bookinfo-mesh:app.image.tag = 1.2: YAML reads this as a number, which changes it (1.20 becomes 1.2, 010 becomes 8); quote it: '...'"),
    "octal image tag 010": (stack("  bookinfo-mesh:app:\n    image: {tag: 010}\n"),
        "{file}: bookinfo-mesh:app.image.tag = 8: YAML reads this as a number, which changes it (1.20 becomes 1.2, 010 becomes 8); quote it: '...'"),
    "integer image tag": (stack("  bookinfo-mesh:app:\n    image: {tag: 7}\n"),
        "{file}: bookinfo-mesh:app.image.tag = 7: YAML reads this as a number, which changes it (1.20 becomes 1.2, 010 becomes 8); quote it: '...'"),
    "quoted image tag accepted": (stack("  bookinfo-mesh:app:\n    image: {tag: '1.20'}\n"), OK),
    "unknown key at depth": (reviews("trafficPolicy: {loadBalancer: ROUND_ROBIN, outlier: {}}"),
        '{file}: bookinfo-mesh:services.reviews.trafficPolicy.outlier: unknown key; did you mean outlierDetection? allowed: loadBalancer, connectionPool, outlierDetection'),
    "unknown key in route": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {uri: {prefix: /a}}, to: v2, tiemout: 1s}\nto: v1"),

        '{file}: bookinfo-mesh:services.reviews.routes[0].tiemout: unknown key; did you mean timeout? allowed: match, to, weights, fault, timeout, retries, mirror'),
    "misspelt top key": (stack("  bookinfo-mesh:servics: {}\n"),
        '{file}: bookinfo-mesh:servics: unknown key; did you mean services? allowed: environment, istio, app, services, ingress, security, egress, stores, rollout, layers, stackRefs, traffic, gatewayApi, mesh, clusters, databasePassword'),
    # --- unsafe values
    "namespace istio-system": (stack("  bookinfo-mesh:app: {namespace: istio-system}\n"),
        '{file}: bookinfo-mesh:app.namespace = "istio-system": a system namespace; choose a namespace of the application\'s own'),
    "namespace kube-system": (stack("  bookinfo-mesh:app: {namespace: kube-system}\n"),
        '{file}: bookinfo-mesh:app.namespace = "kube-system": a system namespace; choose a namespace of the application\'s own'),
    "namespace out of mesh": (stack("  bookinfo-mesh:app: {name: bms, namespace: bookinfo-ext}\n"
                                    "  bookinfo-mesh:databasePassword: {secure: v1:AAAA}\n"),
        '{file}: bookinfo-mesh:app.namespace = "bookinfo-ext": the application\'s namespace outside the mesh; choose a namespace of the application\'s own'),
    "namespace 64 characters": (stack(f"  bookinfo-mesh:app: {{namespace: {'n' * 64}}}\n"),
        '{file}: bookinfo-mesh:app.namespace = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn": expected a namespace name (a DNS-1123 label of at most 63 characters)'),
    "namespace trailing dash": (stack("  bookinfo-mesh:app: {namespace: bookinfo-}\n"),
        '{file}: bookinfo-mesh:app.namespace = "bookinfo-": expected a namespace name (a DNS-1123 label of at most 63 characters)'),
    "namespace uppercase": (stack("  bookinfo-mesh:app: {namespace: Bookinfo}\n"),
        '{file}: bookinfo-mesh:app.namespace = "Bookinfo": expected a namespace name (a DNS-1123 label of at most 63 characters)'),
    "namespace own accepted": (stack("  bookinfo-mesh:app: {namespace: shop}\n"), OK),
    "host label 64": (stack(f"  bookinfo-mesh:ingress: {{hosts: [{'a' * 64}.example.com]}}\n"),
        '{file}: bookinfo-mesh:ingress.hosts[0] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com": expected a host name (DNS labels of at most 63 characters, 253 in all) or \'*\''),
    "host 254 characters": (stack("  bookinfo-mesh:ingress: {hosts: [" + ".".join(["a" * 50] * 5) + ".com]}\n"),
        '{file}: bookinfo-mesh:ingress.hosts[0] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaa...: expected a host name (DNS labels of at most 63 characters, 253 in all) or \'*\''),
    "host trailing dash": (stack("  bookinfo-mesh:ingress: {hosts: [shop-.example.com]}\n"),
        '{file}: bookinfo-mesh:ingress.hosts[0] = "shop-.example.com": expected a host name (DNS labels of at most 63 characters, 253 in all) or \'*\''),
    "host 63-label accepted": (stack(f"  bookinfo-mesh:ingress: {{hosts: [{'a' * 63}.example.com]}}\n"), OK),
    "revision trailing dash": (stack("  bookinfo-mesh:istio: {revision: canary-}\n"),
        '{file}: bookinfo-mesh:istio.revision = "canary-": expected a revision name (lowercase letters, digits and \'-\'), or \'\' for the default'),
    "timeout zero": (reviews("to: v1\ntimeout: 0s"),
        '{file}: bookinfo-mesh:services.reviews.timeout = "0s": below 1ms, which Istio refuses; expected at least 1ms'),
    "timeout below 1ms": (reviews("to: v1\ntimeout: 0.5ms"),
        '{file}: bookinfo-mesh:services.reviews.timeout = "0.5ms": below 1ms, which Istio refuses; expected at least 1ms'),
    "timeout 1ms accepted": (reviews("to: v1\ntimeout: 1ms"), OK),
    "timeout microseconds": (reviews("to: v1\ntimeout: 500us"),
        '{file}: bookinfo-mesh:services.reviews.timeout = "500us": expected a duration like 0.5s, 7s, 250ms or 2m'),
    "timeout number": (reviews("to: v1\ntimeout: 5"),
        '{file}: bookinfo-mesh:services.reviews.timeout = 5: expected a duration like 0.5s, 7s, 250ms or 2m'),
    "perTryTimeout zero": (reviews("to: v1\nretries: {attempts: 3, perTryTimeout: 0s}"),
        '{file}: bookinfo-mesh:services.reviews.retries.perTryTimeout = "0s": below 1ms, which Istio refuses; expected at least 1ms'),
    "delay zero": (reviews("to: v1\nfault: {delay: {fixedDelay: 0ms}}"),
        '{file}: bookinfo-mesh:services.reviews.fault.delay.fixedDelay = "0ms": below 1ms, which Istio refuses; expected at least 1ms'),
    "outlier interval zero": (reviews("to: v1\ntrafficPolicy: {outlierDetection: {interval: 0s}}"),
        '{file}: bookinfo-mesh:services.reviews.trafficPolicy.outlierDetection.interval = "0s": below 1ms, which Istio refuses; expected at least 1ms'),
    "regex lookahead": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {uri: {regex: '/(?=a)'}}, to: v2}\nto: v1"),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.regex = "/(?=a)": not an RE2 regex, which Istio uses (invalid perl operator: (?=)'),
    "regex backreference": (reviews("versions: [v1, v2]\nroutes:\n  - match: {headers: {end-user: {regex: '(a)\\1'}}}\n"
                                    "    to: v2\nto: v1"),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.headers.end-user.regex = "(a)\\\\1": not an RE2 regex, which Istio uses (invalid escape sequence: \\1)'),
    "regex unbalanced": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {uri: {regex: '('}}, to: v2}\nto: v1"),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.regex = "(": not an RE2 regex, which Istio uses (missing ): ()'),
    "regex huge repeat": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {uri: {regex: 'a{1001}'}}, to: v2}\nto: v1"),

        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.regex = "a{1001}": not an RE2 regex, which Istio uses (invalid repetition size: {1001})'),
    "regex number": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {uri: {regex: 5}}, to: v2}\nto: v1"),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.regex = 5: expected a string'),
    "regex re2 accepted": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {uri: {regex: '^/api/v[0-9]+'}}, to: v2}\n"
                                   "to: v1"), OK),
    "cookie with space": (reviews("to: v1\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: 'my cookie'}}}}"),

        '{file}: bookinfo-mesh:services.reviews.trafficPolicy.loadBalancer.consistentHash.httpCookie.name = "my cookie": not a cookie name (an HTTP token: letters, digits and !#$%&\'*+-.^_`|~)'),
    "cookie with semicolon": (reviews("to: v1\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: 'a;b'}}}}"),

        '{file}: bookinfo-mesh:services.reviews.trafficPolicy.loadBalancer.consistentHash.httpCookie.name = "a;b": not a cookie name (an HTTP token: letters, digits and !#$%&\'*+-.^_`|~)'),
    "cookie token accepted": (reviews("to: v1\ntrafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 0s}}}}"),
                              OK),
    "plaintext private key": (stack("  bookinfo-mesh:ingress:\n    tls: {credentialName: cred, certificate: CERT, "
                                    "privateKey: '-----BEGIN PRIVATE KEY-----'}\n"),
        '{file}: bookinfo-mesh:ingress.tls.privateKey: holds plaintext; a private key must be a Pulumi secret: set it with `pulumi config set --secret --path ingress.tls.privateKey "$(cat tls.key)"`'),
    "secret private key accepted": (stack("  bookinfo-mesh:ingress:\n    tls: {credentialName: cred, certificate: CERT, "
                                          "privateKey: {secure: v1:AAAA}}\n"), OK),
    # Not set: the line that stops the program under the engine; offline renders warn
    # with it and go on (tests/test_hardening_corpus.py, the CLI).
    "database password not set": (stack(BMS),
        '{file}: bookinfo-mesh:databasePassword: not set; set it with pulumi config set --secret databasePassword <value> --stack test'),
    "database password set as a secret accepted": (stack(BMS + "  bookinfo-mesh:databasePassword: {secure: v1:AAAA}\n"), OK),
    "plaintext database password": (stack(BMS + "  bookinfo-mesh:databasePassword: hunter2\n"),

        '{file}: bookinfo-mesh:databasePassword: holds plaintext; a password must be a Pulumi secret: set it with `pulumi config set --secret databasePassword <value> --stack test`'),
    "password as a number": (stack(BMS + "  bookinfo-mesh:databasePassword: 1234\n"),
        '{file}: bookinfo-mesh:databasePassword: holds plaintext; a password must be a Pulumi secret: set it with `pulumi config set --secret databasePassword <value> --stack test`'),
    "password as a list": (stack(BMS + "  bookinfo-mesh:databasePassword: [a]\n"),
        '{file}: bookinfo-mesh:databasePassword: holds plaintext; a password must be a Pulumi secret: set it with `pulumi config set --secret databasePassword <value> --stack test`'),
    "secure as a number": (stack(BMS + "  bookinfo-mesh:databasePassword: {secure: 12}\n"),

        '{file}: bookinfo-mesh:databasePassword.secure: expected the ciphertext Pulumi wrote (a string); set the value with `pulumi config set --secret`'),
    "secure empty": (stack(BMS + "  bookinfo-mesh:databasePassword: {secure: ''}\n"),
        '{file}: bookinfo-mesh:databasePassword.secure: expected the ciphertext Pulumi wrote (a string); set the value with `pulumi config set --secret`'),
    "private key secure as a map": (stack("  bookinfo-mesh:ingress:\n    tls: {credentialName: cred, certificate: CERT, "
                                          "privateKey: {secure: {a: 1}}}\n"),
        '{file}: bookinfo-mesh:ingress.tls.privateKey.secure: expected the ciphertext Pulumi wrote (a string); set the value with `pulumi config set --secret`'),
    # --- shapes and ranges
    "weights as list": (reviews("versions: [v1, v2]\nweights: [50, 50]"),
        '{file}: bookinfo-mesh:services.reviews.weights = [50, 50]: expected a mapping'),
    "weight as string": (reviews("versions: [v1, v2]\nweights: {v1: '50', v2: 50}"),
        '{file}: bookinfo-mesh:services.reviews.weights.v1 = "50": expected a whole number'),
    "weight negative": (reviews("versions: [v1, v2]\nweights: {v1: -1, v2: 50}"),
        '{file}: bookinfo-mesh:services.reviews.weights.v1 = -1: expected a whole number of at least 0 and at most 1000000'),
    "weight boolean": (reviews("versions: [v1, v2]\nweights: {v1: true, v2: 50}"),
        '{file}: bookinfo-mesh:services.reviews.weights.v1 = true: expected a whole number'),
    "weight NaN": (reviews("versions: [v1, v2]\nweights: {v1: .nan, v2: 50}"),
        '{file}: bookinfo-mesh:services.reviews.weights.v1 = NaN: expected a whole number'),
    "weight infinite": (reviews("versions: [v1, v2]\nweights: {v1: .inf, v2: 50}"),
        '{file}: bookinfo-mesh:services.reviews.weights.v1 = Infinity: expected a whole number'),
    "weights all zero": (reviews("versions: [v1, v2]\nweights: {v1: 0, v2: 0}"),
        '{file}: bookinfo-mesh:services.reviews.weights = {"v1": 0, "v2": 0}: weights are all zero; at least one must be above 0'),
    "replicas as string": (stack("  bookinfo-mesh:app: {replicas: two}\n"),
        '{file}: bookinfo-mesh:app.replicas = "two": expected a whole number'),
    "replicas too many": (stack("  bookinfo-mesh:app: {replicas: 1000}\n"),
        '{file}: bookinfo-mesh:app.replicas = 1000: expected a whole number of at least 0 and at most 100'),
    "replicas float": (stack("  bookinfo-mesh:app: {replicas: 1.5}\n"),
        '{file}: bookinfo-mesh:app.replicas = 1.5: expected a whole number'),
    "versions as string": (reviews("versions: v1"),
        '{file}: bookinfo-mesh:services.reviews.versions = "v1": expected a non-empty list'),
    "unknown version": (reviews("versions: [v9]"),
        '{file}: bookinfo-mesh:services.reviews.versions[0] = "v9": allowed: v1, v2, v3'),
    "unknown service": (stack("  bookinfo-mesh:services: {reviewz: {to: v1}}\n"),
        '{file}: bookinfo-mesh:services.reviewz: no such service in bookinfo; allowed: details, ratings, reviews, productpage'),
    "services as list": (stack("  bookinfo-mesh:services: [reviews]\n"),
        '{file}: bookinfo-mesh:services = ["reviews"]: expected a mapping'),
    "routes as map": (reviews("routes: {a: 1}"),
        '{file}: bookinfo-mesh:services.reviews.routes = {"a": 1}: expected a list of routes'),
    "match as string": (reviews("versions: [v1, v2]\nroutes:\n  - {match: jason, to: v2}\nto: v1"),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match = "jason": expected a mapping'),
    "empty match": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {}, to: v2}\nto: v1"),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match = {}: a match needs headers or uri'),
    "header name uppercase": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {headers: {End-User: {exact: j}}}, to: v2}\n"
                                      "to: v1"),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.headers.End-User = "End-User": expected a lowercase header name'),
    "two match kinds": (reviews("versions: [v1, v2]\nroutes:\n  - {match: {uri: {exact: /a, prefix: /b}}, to: v2}\nto: v1"),

        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri = {"exact": "/a", "prefix": "/b"}: expected exactly one of exact, prefix, regex'),
    "environment unknown": (stack(environment="qa"),
        '{file}: bookinfo-mesh:environment = "qa": allowed: dev, staging, prod'),
    "environment as list": (stack(environment="[dev]"),
        '{file}: bookinfo-mesh:environment = ["dev"]: expected one of dev, staging, prod'),
    "environment null": ("config:\n  bookinfo-mesh:environment:\n",
        '{file}: bookinfo-mesh:environment = null: expected one of dev, staging, prod'),
    "istio version bad": (stack("  bookinfo-mesh:istio: {version: latest}\n"),
        '{file}: bookinfo-mesh:istio.version = "latest": expected an Istio version like 1.30.3'),
    "chart repository file": (stack("  bookinfo-mesh:istio: {chartRepository: 'file:///etc'}\n"),
        '{file}: bookinfo-mesh:istio.chartRepository = "file:///etc": expected a chart repository URL'),
    "maxStep zero": (stack("  bookinfo-mesh:rollout: {maxStep: 0}\n"),
        '{file}: bookinfo-mesh:rollout.maxStep = 0: expected percentage points above 0 and at most 100'),
    "maxStep string": (stack("  bookinfo-mesh:rollout: {maxStep: '25'}\n"),
        '{file}: bookinfo-mesh:rollout.maxStep = "25": expected percentage points above 0 and at most 100'),
    "analysis key typo": (stack("  bookinfo-mesh:rollout:\n    analysis: {succesRate: 95}\n"),
        '{file}: bookinfo-mesh:rollout.analysis.succesRate: unknown key; did you mean successRate? allowed: window, minRequests, successRate, latencyP99, metrics'),
    "analysis gate key typo": (stack("  bookinfo-mesh:rollout:\n    analysis: {metrics: [{name: errors, query: up, maximum: 1}]}\n"),
        '{file}: bookinfo-mesh:rollout.analysis.metrics[0].maximum: unknown key; did you mean max? allowed: name, query, min, max'),
    "analysis window bad": (stack("  bookinfo-mesh:rollout:\n    analysis: {window: 1 minute}\n"),
        '{file}: bookinfo-mesh:rollout.analysis.window = "1 minute": expected a Prometheus duration like 30s, 1m or 5m'),
    "startedFrom key typo": (stack("  bookinfo-mesh:rollout:\n    startedFrom: {servce: reviews, to: v3, weights: {v1: 100}}\n"),
        '{file}: bookinfo-mesh:rollout.startedFrom.servce: unknown key; did you mean service? allowed: service, to, weights, rollingBack'),
    "startedFrom key missing": (stack("  bookinfo-mesh:rollout:\n    startedFrom: {to: v3, weights: {v1: 100}}\n"),
        '{file}: bookinfo-mesh:rollout.startedFrom.service: missing (written by meshplan rollout)'),
    "startedFrom rollingBack not boolean": (stack("  bookinfo-mesh:rollout:\n    startedFrom: {service: reviews, to: v3, weights: {v1: 100}, rollingBack: 'yes'}\n"),
        '{file}: bookinfo-mesh:rollout.startedFrom.rollingBack = "yes": expected true or false'),
    "quantity bad": (stack("  bookinfo-mesh:app: {resources: {requests: {cpu: lots}}}\n"),
        '{file}: bookinfo-mesh:app.resources.requests.cpu = "lots": expected a quantity like 500m or 2Gi'),
    "key as number": (stack("  bookinfo-mesh:app: {1: 2}\n"),
        '{file}: bookinfo-mesh:app.1 = 1: keys must be strings'),
    "mapping as key": (stack("  bookinfo-mesh:app: {? {a: 1} : 2}\n"),
        '{file}: line 3, column 25: invalid YAML (while constructing a mapping: found unhashable key)'),
    "null services accepted": (stack("  bookinfo-mesh:services:\n"), OK),
    # --- names Kubernetes would refuse: refused at the key, or made valid by construction
    "egress host label of 62": (stack(EGRESS.format(host="a" * 62 + ".example.com")), OK),
    "egress host labels of 63": (stack(EGRESS.format(host=".".join(["b" * 63] * 3) + ".com")), OK),
    "egress name 64 characters": (stack(EGRESS.format(host="api.example.com") .replace("host:", f"name: {'n' * 64}, host:")),
        '{file}: bookinfo-mesh:egress.externalServices[0].name = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn": expected a DNS label'),
    "revision 57 characters": (stack(f"  bookinfo-mesh:istio: {{revision: {'r' * 57}}}\n"),
        '{file}: bookinfo-mesh:istio.revision = "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr": longer than 56 characters (57); the istiod chart names its Service istiod-<revision>, at most 63'),
    "revision 56 characters accepted": (stack(f"  bookinfo-mesh:istio: {{revision: {'r' * 56}}}\n"), OK),
    "revision trailing newline": (stack('  bookinfo-mesh:istio: {revision: "canary\\n"}\n'),
        '{file}: bookinfo-mesh:istio.revision = "canary\\n": expected a revision name (lowercase letters, digits and \'-\'), or \'\' for the default'),
    "namespace trailing newline": (stack('  bookinfo-mesh:app: {namespace: "shop\\n"}\n'),
        '{file}: bookinfo-mesh:app.namespace = "shop\\n": expected a namespace name (a DNS-1123 label of at most 63 characters)'),
    # --- config keys the Pulumi CLI refuses (ParseKey): the whole file, in its words
    "key with two colons": (stack("  bookinfo-mesh:services:reviews:\n    to: v3\n"),
        '{file}: config.bookinfo-mesh:services:reviews: could not parse bookinfo-mesh:services:reviews as a configuration key (configuration keys should be of the form `<namespace>:<name>`)'),
    "key with three colons": (stack("  bookinfo-mesh:config:app:replicas: 2\n"),
        '{file}: config.bookinfo-mesh:config:app:replicas: could not parse bookinfo-mesh:config:app:replicas as a configuration key (configuration keys should be of the form `<namespace>:<name>`)'),
    "key without namespace": ("config:\n  environment: dev\n",
        '{file}: config.environment: could not parse environment as a configuration key (configuration keys should be of the form `<namespace>:<name>`)'),
    "key with empty middle": (stack("  bookinfo-mesh::app: {replicas: 2}\n"),
        '{file}: config.bookinfo-mesh::app: could not parse bookinfo-mesh::app as a configuration key (configuration keys should be of the form `<namespace>:<name>`)'),
    "legacy and current key both given": (stack("  bookinfo-mesh:app: {replicas: 1}\n  bookinfo-mesh:config:app: {replicas: 2}\n"),
        '{file}: config.bookinfo-mesh:config:app: the same key as bookinfo-mesh:app; give it once (the last would silently win)'),
    "legacy config key accepted": ("config:\n  bookinfo-mesh:config:environment: dev\n  kubernetes:config:context: kind\n", OK),
    # --- header values HTTP cannot carry (Envoy refuses them); a tab is allowed
    "header exact control character": (reviews(JASON.format(kind="exact", value='"jason\\u0001"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.headers.end-user.exact = "jason\\u0001": expected a header value (no control characters but tab)'),
    "header prefix delete": (reviews(JASON.format(kind="prefix", value='"jas\\x7f"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.headers.end-user.prefix = "jas\\u007f": expected a header value (no control characters but tab)'),
    "header regex newline": (reviews(JASON.format(kind="regex", value='"jason\\n"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.headers.end-user.regex = "jason\\n": expected a header value (no control characters but tab)'),
    "header exact tab accepted": (reviews(JASON.format(kind="exact", value='"jason\\tx"')), OK),
    # --- data plane and traffic API: what Istio 1.30.3 cannot run, in one line each
    "ambient with istio routing": (stack("  bookinfo-mesh:istio: {dataPlane: ambient}\n"),
        '{file}: bookinfo-mesh:istio.dataPlane = "ambient": istio.dataPlane=ambient needs traffic.api=gateway-api: VirtualService with waypoints is Alpha in Istio 1.30 and mixing it with HTTPRoute is undefined'),
    "ambient with bms": (stack("  bookinfo-mesh:app: {name: bms}\n  bookinfo-mesh:istio: {dataPlane: ambient}\n"
                               "  bookinfo-mesh:traffic: {api: gateway-api}\n"),
        '{file}: bookinfo-mesh:istio.dataPlane = "ambient": istio.dataPlane=ambient cannot run app.name=bms: its two-hop egress gateway (sidecar to egress gateway to the external payment API) has no ambient twin; use istio.dataPlane=sidecar'),
    "data plane misspelt": (stack("  bookinfo-mesh:istio: {dataPlane: ambiant}\n"),
        '{file}: bookinfo-mesh:istio.dataPlane = "ambiant": allowed: sidecar, ambient'),
    "platform kind": (stack("  bookinfo-mesh:istio: {platform: kind}\n"),
        '{file}: bookinfo-mesh:istio.platform = "kind": global.platform=kind does not exist in Istio 1.30.3 (gke, k3d, k3s, microk8s, minikube, openshift); leave platform empty on kind/EKS'),
    "platform eks": (stack("  bookinfo-mesh:istio: {platform: eks}\n"),
        '{file}: bookinfo-mesh:istio.platform = "eks": global.platform=eks does not exist in Istio 1.30.3 (gke, k3d, k3s, microk8s, minikube, openshift); leave platform empty on kind/EKS'),
    "platform a number": (stack("  bookinfo-mesh:istio: {platform: 3}\n"),
        '{file}: bookinfo-mesh:istio.platform = 3: global.platform=3 does not exist in Istio 1.30.3 (gke, k3d, k3s, microk8s, minikube, openshift); leave platform empty on kind/EKS'),
    "traffic api unknown": (stack("  bookinfo-mesh:traffic: {api: gamma}\n"),
        '{file}: bookinfo-mesh:traffic.api = "gamma": allowed: istio, gateway-api'),
    "gateway api older version": (stack("  bookinfo-mesh:gatewayApi: {version: v1.4.0}\n"),
        '{file}: bookinfo-mesh:gatewayApi.version = "v1.4.0": Istio 1.30.3 is built and tested against Gateway API v1.5.1 (older TLSRoute/BackendTLSPolicy CRDs are silently ignored by istiod)'),
    "gateway api channel unknown": (stack("  bookinfo-mesh:gatewayApi: {channel: beta}\n"),
        '{file}: bookinfo-mesh:gatewayApi.channel = "beta": allowed: standard, experimental'),
    "gateway api install not a boolean": (stack("  bookinfo-mesh:gatewayApi: {installCrds: 'no'}\n"),
        '{file}: bookinfo-mesh:gatewayApi.installCrds = "no": expected true or false'),
    # --- traffic.api=gateway-api: what an HTTPRoute cannot say is refused, in one line each
    "gateway api fault": (reviews("to: v1\nfault: {abort: {httpStatus: 500}}") + GATEWAY_API_ROUTES,
        '{file}: bookinfo-mesh:services.reviews.fault = {"abort": {"httpStatus": 500}}: fault injection cannot be expressed in Gateway API (no filter; Istio 1.30 rejects ExtensionRef) — use traffic.api=istio with dataPlane=sidecar'),
    "gateway api fault on a match route": (reviews(JASON.format(kind="exact", value="jason").replace("to: v2}", "to: v2, fault: {delay: {fixedDelay: 7s}}}")) + GATEWAY_API_ROUTES,
        '{file}: bookinfo-mesh:services.reviews.routes[0].fault = {"delay": {"fixedDelay": "7s"}}: fault injection cannot be expressed in Gateway API (no filter; Istio 1.30 rejects ExtensionRef) — use traffic.api=istio with dataPlane=sidecar'),
    "gateway api retries on the standard channel": (reviews("to: v1\nretries: {attempts: 3}") + GATEWAY_API_ROUTES,
        '{file}: bookinfo-mesh:services.reviews.retries = {"attempts": 3}: retries need gatewayApi.channel=experimental (HTTPRoute.retry is not in the standard v1.5.1 CRD)'),
    "gateway api retryOn not a status": (reviews("to: v1\nretries: {attempts: 3, retryOn: '5xx,503'}") + GATEWAY_API_ROUTES + EXPERIMENTAL_CHANNEL,
        '{file}: bookinfo-mesh:services.reviews.retries.retryOn = "5xx,503": HTTPRoute.retry takes HTTP status codes only; Istio always adds connect-failure,refused-stream,unavailable,cancelled'),
    "gateway api retryOn a 3xx status": (reviews("to: v1\nretries: {attempts: 3, retryOn: '302'}") + GATEWAY_API_ROUTES + EXPERIMENTAL_CHANNEL,
        '{file}: bookinfo-mesh:services.reviews.retries.retryOn = "302": HTTPRoute.retry codes are HTTP statuses 400 to 599, not 302'),
    "gateway api retryOn 429 accepted": (reviews("to: v1\nretries: {attempts: 3, retryOn: '429,503'}") + GATEWAY_API_ROUTES + EXPERIMENTAL_CHANNEL,
        OK),
    "gateway api per-try above the timeout": (reviews("to: v1\ntimeout: 1s\nretries: {attempts: 3, perTryTimeout: 2s}") + GATEWAY_API_ROUTES + EXPERIMENTAL_CHANNEL,
        '{file}: bookinfo-mesh:services.reviews.retries.perTryTimeout = "2s": HTTPRoute timeouts.backendRequest must not exceed timeouts.request (1s)'),
    "gateway api retries accepted on experimental": (reviews("to: v1\ntimeout: 2s\nretries: {attempts: 3, perTryTimeout: 0.5s, retryOn: '503'}") + GATEWAY_API_ROUTES + EXPERIMENTAL_CHANNEL,
        OK),
    "gateway api header prefix": (reviews(JASON.format(kind="prefix", value="jas")) + GATEWAY_API_ROUTES,
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.headers.end-user.prefix = "jas": a header prefix match cannot be expressed in HTTPRoute (Exact or RegularExpression only); write it as regex'),
    "gateway api header regex accepted": (reviews(JASON.format(kind="regex", value="jas.*")) + GATEWAY_API_ROUTES,
        OK),
    "gateway api timeout below a millisecond": (reviews("to: v1\ntimeout: 1.5ms") + GATEWAY_API_ROUTES,
        '{file}: bookinfo-mesh:services.reviews.timeout = "1.5ms": HTTPRoute durations count whole milliseconds; write it in ms'),
    "gateway api observability": (stack("  bookinfo-mesh:istio: {addons: {kiali: true}}\n  bookinfo-mesh:ingress: {observability: {kiali: kiali.example.com}}\n") + GATEWAY_API_ROUTES,
        '{file}: bookinfo-mesh:ingress.observability = {"kiali": "kiali.example.com"}: the addons are exposed through the Istio ingress gateway\'s Gateway and VirtualService, which traffic.api=gateway-api does not render; use traffic.api=istio, or kubectl port-forward'),
    # --- egress ambient mode cannot carry out: refused, never rendered to no effect
    "ambient egress gateway": (stack("  bookinfo-mesh:istio: {dataPlane: ambient, egressGateway: {enabled: true}}\n"
                                     "  bookinfo-mesh:traffic: {api: gateway-api}\n"),
        '{file}: bookinfo-mesh:istio.egressGateway.enabled = true: the egress gateway needs sidecars (istio.dataPlane=sidecar): in ambient mode it takes an egress waypoint in namespace istio-egress, which is not built yet'),
    "ambient egress through the gateway": (stack(
        "  bookinfo-mesh:istio: {dataPlane: ambient}\n  bookinfo-mesh:traffic: {api: gateway-api}\n"
        "  bookinfo-mesh:egress:\n    externalServices:\n"
        "      - {host: api.example.com, ports: [{number: 443, protocol: HTTPS}], egressGateway: {port: 443}}\n"),
        '{file}: bookinfo-mesh:egress.externalServices[0].egressGateway = {"port": 443}: routing through the egress gateway needs sidecars (istio.dataPlane=sidecar): in ambient mode it takes an egress waypoint in namespace istio-egress, which is not built yet'),
    "ambient tls origination": (stack(
        "  bookinfo-mesh:istio: {dataPlane: ambient}\n  bookinfo-mesh:traffic: {api: gateway-api}\n"
        "  bookinfo-mesh:egress:\n    externalServices:\n"
        "      - {host: api.example.com, ports: [{number: 443, protocol: HTTPS}], tlsOrigination: {port: 443}}\n"),
        '{file}: bookinfo-mesh:egress.externalServices[0].tlsOrigination = {"port": 443}: TLS origination needs sidecars (istio.dataPlane=sidecar): in ambient mode it takes an egress waypoint in namespace istio-egress, which is not built yet'),
    "ambient plain external host accepted": (stack(
        "  bookinfo-mesh:istio: {dataPlane: ambient}\n  bookinfo-mesh:traffic: {api: gateway-api}\n"
        + EGRESS.format(host="api.example.com")), OK),
}


MANIFESTS: dict[str, tuple[str | bytes, str | None]] = {
    "valid objects accepted": ("---\n".join(json.dumps(o) + "\n" for o in (VS, DR, GW, SVC, DEPLOY)), OK),
    "empty file accepted": ("", OK),
    "binary": (b"\x00\x01\x02", '{file}: binary content (NUL bytes), not UTF-8 text'),
    "utf-16": (json.dumps(VS).encode("utf-16"), '{file}: UTF-16 text (byte order mark); save it as UTF-8'),
    "invalid utf-8": (b"kind: \xff\n", '{file}: not UTF-8 text (invalid byte at offset 6)'),
    "billion laughs": (laughs().replace("config:", "kind: List\nitems: []\nx:"),
        '{file}: line 8, column 26: aliases expand to more than 10,000 nodes, the limit for a manifest'),
    "deep nesting": ("kind: VirtualService\nspec: " + "[" * 3000 + "]" * 3000 + "\n",
        '{file}: line 2, column 70: nested deeper than 64 levels, the limit for a manifest'),
    "duplicate key": ("kind: VirtualService\nmetadata: {name: a, name: b}\n",
        "{file}: line 2, column 21: key 'name' given twice in one mapping (the last would silently win)"),
    "oversized": ("kind: ConfigMap\ndata: {a: '" + "x" * (33 * MiB) + "'}\n",
        '{file}: larger than the 32 MiB limit for a manifest'),
    "document a list": ("[1, 2]\n", '{file}: document 1: not a Kubernetes object'),
    "document a scalar": ("hello\n", '{file}: document 1: not a Kubernetes object'),
    "no kind": ("metadata: {name: a}\n", '{file}: document 1: not a Kubernetes object'),
    "kind a number": ('{"kind": 5}', '{file}: document 1: kind = 5: expected a string'),
    "apiVersion a list": ('{"kind": "Service", "apiVersion": ["v1"]}',
        '{file}: document 1: apiVersion = ["v1"]: expected a string'),
    "metadata a string": (changed(VS, "metadata", "hello"),
        '{file}: document 1: metadata = "hello": expected a mapping'),
    "name a number": (changed(VS, "metadata.name", 5),
        '{file}: document 1: metadata.name = 5: expected a string'),
    "labels a list": (changed(DEPLOY, "metadata.labels", ["a"]),
        '{file}: document 1: metadata.labels = ["a"]: expected a mapping'),
    "label value a number": (changed(DEPLOY, "spec.template.metadata.labels.version", 1),
        '{file}: document 1: spec.template.metadata.labels.version = 1: expected a string'),
    "spec a list": (changed(VS, "spec", [1, 2]), '{file}: document 1: spec = [1, 2]: expected a mapping'),
    "hosts a string": (changed(VS, "spec.hosts", "reviews"),
        '{file}: document 1: spec.hosts = "reviews": expected a list'),
    "gateways numbers": (changed(VS, "spec.gateways", [123]),
        '{file}: document 1: spec.gateways[0] = 123: expected a string'),
    "http a mapping": (changed(VS, "spec.http", {"a": 1}),
        '{file}: document 1: spec.http = {"a": 1}: expected a list'),
    "weight a string": (changed(VS, "spec.http.0.route.0", {"destination": {"host": "r"}, "weight": "50"}),
        '{file}: document 1: spec.http[0].route[0].weight = "50": expected a whole number'),
    "weight a fraction": (changed(VS, "spec.http.0.route.0", {"destination": {"host": "r"}, "weight": 2.5}),
        '{file}: document 1: spec.http[0].route[0].weight = 2.5: expected a whole number'),
    "destination a string": (changed(VS, "spec.http.0.route.0.destination", "reviews"),
        '{file}: document 1: spec.http[0].route[0].destination = "reviews": expected a mapping'),
    "match a string": (changed(VS, "spec.http.0", {"match": "jason", "route": []}),
        '{file}: document 1: spec.http[0].match = "jason": expected a list'),
    "match headers a list": (changed(VS, "spec.http.0", {"match": [{"headers": ["a"]}], "route": []}),
        '{file}: document 1: spec.http[0].match[0].headers = ["a"]: expected a mapping'),
    "uri a string": (changed(VS, "spec.http.0", {"match": [{"uri": "/a"}], "route": []}),
        '{file}: document 1: spec.http[0].match[0].uri = "/a": expected a mapping'),
    "subsets a string": (changed(DR, "spec.subsets", "v1"),
        '{file}: document 1: spec.subsets = "v1": expected a list'),
    "subset labels a list": (changed(DR, "spec.subsets.0.labels", ["version"]),
        '{file}: document 1: spec.subsets[0].labels = ["version"]: expected a mapping'),
    "host a list": (changed(DR, "spec.host", ["reviews"]),
        '{file}: document 1: spec.host = ["reviews"]: expected a string'),
    "selector a list": (changed(GW, "spec.selector", ["istio=ingressgateway"]),
        '{file}: document 1: spec.selector = ["istio=ingressgateway"]: expected a mapping'),
    "servers a mapping": (changed(GW, "spec.servers", {"port": 80}),
        '{file}: document 1: spec.servers = {"port": 80}: expected a list'),
    "port a string": (changed(GW, "spec.servers.0.port.number", "80"),
        '{file}: document 1: spec.servers[0].port.number = "80": expected a whole number'),
    "service ports a mapping": (changed(SVC, "spec.ports", {"http": 9080}),
        '{file}: document 1: spec.ports = {"http": 9080}: expected a list'),
    "service selector a string": (changed(SVC, "spec.selector", "app=reviews"),
        '{file}: document 1: spec.selector = "app=reviews": expected a mapping'),
    "containers a mapping": (changed(DEPLOY, "spec.template.spec.containers", {"name": "x"}),
        '{file}: document 1: spec.template.spec.containers = {"name": "x"}: expected a list'),
    "containerPort a string": (changed(DEPLOY, "spec.template.spec.containers.0.ports.0.containerPort", "http"),
        '{file}: document 1: spec.template.spec.containers[0].ports[0].containerPort = "http": expected a whole number'),
    "matchLabels a list": (changed(DEPLOY, "spec.selector.matchLabels", ["app"]),
        '{file}: document 1: spec.selector.matchLabels = ["app"]: expected a mapping'),
    "list items a mapping": ('{"kind": "List", "items": {"a": 1}}',
        '{file}: document 1: items = {"a": 1}: expected a list'),
    "list item malformed": (json.dumps({"kind": "List", "items": [changed(VS, "metadata", "x") and
                                                                   json.loads(changed(VS, "metadata", "x"))]}),
        '{file}: document 1: items[0]: metadata = "x": expected a mapping'),
    "secret data a list": ('{"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "data": [1]}',
        '{file}: document 1: data = [1]: expected a mapping'),
    "unknown kind with odd spec accepted": ('{"kind": "Widget", "apiVersion": "x/v1", "metadata": {"name": "w"}, '
                                            '"spec": {"anything": [1, {"b": 2}]}}', OK),
    "null spec accepted": ('{"kind": "VirtualService", "apiVersion": "networking.istio.io/v1", '
                           '"metadata": {"name": "v"}, "spec": null}', OK),
}


STATES: dict[str, tuple[str | bytes, str | None]] = {
    "valid state accepted": (state([resource(VS)]), OK),
    "empty resources accepted": (state([]), OK),
    "not json": ("deployment: {}\n",
        '{file}: not a pulumi stack export (Expecting value: line 1 column 1 (char 0))'),
    "truncated": ('{"deployment": {"resources": [',
        '{file}: not a pulumi stack export (Expecting value: line 1 column 31 (char 30))'),
    "binary": (b"\x00\x00", '{file}: binary content (NUL bytes), not UTF-8 text'),
    "utf-16": (state([]).encode("utf-16"), '{file}: UTF-16 text (byte order mark); save it as UTF-8'),
    "top level list": ("[]", '{file}: deployment: not a pulumi stack export (no deployment)'),
    "no deployment": ('{"version": 3}', '{file}: deployment: not a pulumi stack export (no deployment)'),
    "deployment a list": ('{"deployment": []}', '{file}: deployment: not a pulumi stack export (no deployment)'),
    "resources a mapping": ('{"deployment": {"resources": {"a": 1}}}',
        '{file}: deployment.resources = {"a": 1}: expected a list of resources'),
    "resources a string": ('{"deployment": {"resources": "none"}}',
        '{file}: deployment.resources = "none": expected a list of resources'),
    "resource a string": (state(["urn:a"]), '{file}: deployment.resources[0] = "urn:a": expected a mapping'),
    "urn an integer": (state([{**resource(VS), "urn": 5}]),
        '{file}: deployment.resources[0].urn = 5: expected a string'),
    "type a list": (state([{**resource(VS), "type": ["x"]}]),
        '{file}: deployment.resources[0].type = ["x"]: expected a string'),
    "no urn": (state([{"type": "x", "inputs": {}}]),
        '{file}: deployment.resources[0]: a resource needs urn and type'),
    "inputs a list": (state([resource([1])]),
        '{file}: deployment.resources[0].inputs = [1]: expected a mapping'),
    "custom a string": (state([{**resource(VS), "custom": "yes"}]),
        '{file}: deployment.resources[0].custom = "yes": expected true or false'),
    "spec a string": (state([resource(json.loads(changed(VS, "spec", "hello")))]),
        '{file}: deployment.resources[0].inputs: spec = "hello": expected a mapping'),
    "metadata a list": (state([resource(json.loads(changed(VS, "metadata", [1])))]),
        '{file}: deployment.resources[0].inputs: metadata = [1]: expected a mapping'),
    "weight a string": (state([resource(json.loads(changed(VS, "spec.http.0.route.0",
                                                           {"destination": {"host": "r"}, "weight": "50"})))]),
        '{file}: deployment.resources[0].inputs: spec.http[0].route[0].weight = "50": expected a whole number'),
    "duplicate key": ('{"deployment": {"resources": [], "resources": []}}',
        "{file}: key 'resources' given twice in one object (the last would silently win)"),
    "deep nesting": ('{"deployment": ' + "[" * 100000 + "]" * 100000 + "}",
        '{file}: nested deeper than 64 levels, the limit for a state'),
    "nesting over 64": ('{"deployment": {"resources": [{"urn": "u", "type": "t", "inputs": '
                        + '{"a": ' * 70 + "1" + "}" * 70 + "}]}}",
        '{file}: nested deeper than 64 levels, the limit for a state'),
    "long integer": ('{"deployment": {"resources": [], "x": ' + "9" * 5000 + "}}",
        '{file}: a number of more than 100 digits'),
    "secret inputs accepted": (state([resource({**VS, "spec": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                                                "ciphertext": "v1:AAAA"}})]), OK),
    "float weights accepted": (state([resource(json.loads(changed(VS, "spec.http.0.route.0",
                                                                  {"destination": {"host": "r"}, "weight": 80.0})))]), OK),
}

"""Hardening corpus cases for request paths and line ends: uri match values a request
path cannot hold, and a trailing newline on each setting matched against a pattern
(`$` would accept it before the last newline). Each with its exact one-line outcome,
as in cases.py."""
from __future__ import annotations

from tests.corpus.cases import BMS, OK, reviews, stack

URI = "versions: [v1, v2]\nroutes:\n  - {{match: {{uri: {{{kind}: {value}}}}}, to: v2}}\nto: v1"

STACK_FILES: dict[str, tuple[str | bytes, str | None]] = {
    # --- URI match values a request path cannot hold (a path is visible ASCII; a
    # pattern may hold spaces in a class, never a control character)
    "uri exact control character": (reviews(URI.format(kind="exact", value='"/books\\u0001"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.exact = "/books\\u0001": expected a request path (visible ASCII without spaces or #; percent-encode the rest)'),
    "uri prefix trailing newline": (reviews(URI.format(kind="prefix", value='"/api\\n"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.prefix = "/api\\n": expected a request path (visible ASCII without spaces or #; percent-encode the rest)'),
    "uri prefix space": (reviews(URI.format(kind="prefix", value='"/my books"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.prefix = "/my books": expected a request path (visible ASCII without spaces or #; percent-encode the rest)'),
    "uri exact non-ascii": (reviews(URI.format(kind="exact", value='"/caf\\u00e9"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.exact = "/caf\\u00e9": expected a request path (visible ASCII without spaces or #; percent-encode the rest)'),
    "uri prefix fragment": (reviews(URI.format(kind="prefix", value="'/books#top'")),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.prefix = "/books#top": expected a request path (visible ASCII without spaces or #; percent-encode the rest)'),
    "uri exact tab": (reviews(URI.format(kind="exact", value='"/a\\tb"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.exact = "/a\\tb": expected a request path (visible ASCII without spaces or #; percent-encode the rest)'),
    "uri regex delete": (reviews(URI.format(kind="regex", value='"/api/.*\\x7f"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.regex = "/api/.*\\u007f": expected a pattern of request paths (no control characters)'),
    "uri regex newline": (reviews(URI.format(kind="regex", value='"/api/v[0-9]+\\n"')),
        '{file}: bookinfo-mesh:services.reviews.routes[0].match.uri.regex = "/api/v[0-9]+\\n": expected a pattern of request paths (no control characters)'),
    "uri prefix with query and escape accepted": (reviews(URI.format(kind="prefix", value="'/api/v1?q=a%20b'")), OK),
    "uri regex with a space in a class accepted": (reviews(URI.format(kind="regex", value="'/books/[^ ]+'")), OK),
    # --- a trailing newline is no part of a URL, registry, stack name, quantity or
    # cookie name: each pattern ends at the end of the value, not before a last newline
    "chart repository trailing newline": (stack('  bookinfo-mesh:istio: {chartRepository: "https://istio-release.storage.googleapis.com/charts\\n"}\n'),
        '{file}: bookinfo-mesh:istio.chartRepository = "https://istio-release.storage.googleapis.com/charts\\n": expected a chart repository URL'),
    "image registry trailing newline": (stack('  bookinfo-mesh:app: {image: {registry: "docker.io/istio\\n"}}\n'),
        '{file}: bookinfo-mesh:app.image.registry = "docker.io/istio\\n": expected an image registry like registry.istio.io/release'),
    "tracing endpoint trailing newline": (stack('  bookinfo-mesh:app: {tracing: {endpoint: "http://zipkin.istio-system:9411/api/v2/spans\\n"}}\n'),
        '{file}: bookinfo-mesh:app.tracing.endpoint = "http://zipkin.istio-system:9411/api/v2/spans\\n": expected an http(s) URL'),
    "stack reference trailing newline": (stack('  bookinfo-mesh:layers: [app]\n  bookinfo-mesh:stackRefs: {mesh: "organization/bookinfo-mesh/prod-mesh\\n"}\n'),
        '{file}: bookinfo-mesh:stackRefs.mesh = "organization/bookinfo-mesh/prod-mesh\\n": expected a fully qualified stack name <org>/<project>/<stack>'),
    "resource quantity trailing newline": (stack('  bookinfo-mesh:app: {resources: {requests: {cpu: "500m\\n"}}}\n'),
        '{file}: bookinfo-mesh:app.resources.requests.cpu = "500m\\n": expected a quantity like 500m or 2Gi'),
    "store size trailing newline": (stack(BMS + '  bookinfo-mesh:databasePassword: {secure: v1:AAAA}\n  bookinfo-mesh:stores: {bookinfo-db: {size: "5Gi\\n"}}\n'),
        '{file}: bookinfo-mesh:stores.bookinfo-db.size = "5Gi\\n": expected a quantity like 5Gi'),
    "cookie name trailing newline": (reviews('trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: "session\\n"}}}}'),
        '{file}: bookinfo-mesh:services.reviews.trafficPolicy.loadBalancer.consistentHash.httpCookie.name = "session\\n": not a cookie name (an HTTP token: letters, digits and !#$%&\'*+-.^_`|~)'),
}

"""Checks of given values against what the real consumers accept: the Kubernetes
API server's name rules, Istio's durations and its RE2 regexes, HTTP cookie
names. Each returns the reason a value is refused, or None; the parsers turn that
into their one-line error at the key path."""
from __future__ import annotations

import re

from model.vocabulary import DNS_LABEL_MAX, DNS_LABEL_RE as _DNS_LABEL, DNS_SUBDOMAIN_MAX, duration_ms

# Namespaces an application must never be deployed into: Istio's own (labelling it
# for injection breaks the control plane) and Kubernetes' system namespaces.
RESERVED_NAMESPACES = ("istio-system", "istio-ingress", "kube-system", "kube-public", "kube-node-lease")

# RFC 9110 token characters: what a cookie name may consist of.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def dns_label_problem(name: str) -> str | None:
    """Kubernetes' DNS-1123 label: namespaces, Service and port names."""
    if len(name) > DNS_LABEL_MAX:
        return f"longer than {DNS_LABEL_MAX} characters ({len(name)})"
    if not _DNS_LABEL.match(name):
        return "not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)"
    return None


def dns_subdomain_problem(name: str) -> str | None:
    """Kubernetes' DNS-1123 subdomain: object names and host names (labels joined by dots)."""
    if len(name) > DNS_SUBDOMAIN_MAX:
        return f"longer than {DNS_SUBDOMAIN_MAX} characters ({len(name)})"
    for label in name.removeprefix("*.").split("."):
        problem = dns_label_problem(label)
        if problem:
            return f"label {label!r} is {problem}"
    return None


def duration_problem(text: str) -> str | None:
    """Istio refuses durations below 1 ms (timeouts, per-try timeouts, delays, and
    connection pool and outlier detection times alike)."""
    ms = duration_ms(text)
    if ms is not None and ms < 1:
        return "below 1ms, which Istio refuses"
    return None


def regex_problem(pattern: str) -> str | None:
    """Istio (Envoy) matches with RE2, which has no lookaround or backreferences;
    Python's `re` would accept both. google-re2 is Google's own binding of RE2."""
    import re2

    options = re2.Options()
    options.log_errors = False  # the reason is returned, not written to stderr
    try:
        re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        return f"not an RE2 regex, which Istio uses ({reason})"
    return None


def cookie_name_problem(name: str) -> str | None:
    if not _TOKEN.match(name):
        return "not a cookie name (an HTTP token: letters, digits and !#$%&'*+-.^_`|~)"
    return None

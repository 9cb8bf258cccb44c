"""The parser's own table of keys (`CONFIG_KEYS`) is what it enforces, and
`Pulumi.yaml`'s config declarations describe exactly it: every key the parser accepts
is named in the description of its top-level key, every key a description names is
accepted, and the allowed values and defaults a description states are the code's."""
from __future__ import annotations

import re

import pytest
import yaml

from model.apps import APPLICATIONS
from model.errors import ConfigError
from model.gates import Analysis
from model.settings import (AUTHORIZATION_MODES, CONFIG_KEYS, DEFAULT_ENVIRONMENT, DEFAULT_ISTIO_VERSION, ENVIRONMENTS,
                            LOAD_BALANCERS, MATCH_KINDS, MTLS_MODES, OUTBOUND_POLICIES, PORT_PROTOCOLS, RESOLUTIONS,
                            SECRET_KEYS, SECRET_SHOWN, SERVICE_TYPES, SecretValue, parse_settings)
from model.settings.reader import Keys
from tests.conftest import ROOT

PROJECT_FILE = (ROOT / "Pulumi.yaml").read_text()
DECLARED = {key.removeprefix("bookinfo-mesh:"): declared
            for key, declared in yaml.safe_load(PROJECT_FILE)["config"].items()}
TOP_LEVEL = CONFIG_KEYS[""]


def top_key(at: str) -> str:
    return re.split(r"[.\[]", at)[0]


def description(key: str) -> str:
    return DECLARED[key].get("description", "")


def mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", text) is not None


# --------------------------------------------------------------------------- the table is the parser's

# Names the stack chooses, and what each table's mapping needs around it to be reached
# (the parser checks a route's destination before its fault, a host before its ports).
NAMED = {"<service>": "reviews", "<store>": "bookinfo-db", "<cluster>": "east"}
ONE_CLUSTER = {"mesh": {"trust": {"mode": "selfSigned"}}, "clusters": {"east": {"role": "primary", "network": "n"}},
               "kubeconfig-east": SecretValue(SECRET_SHOWN)}
AROUND = {
    "services.<service>.fault": {"services": {"reviews": {"to": "v1"}}},
    "services.<service>.retries": {"services": {"reviews": {"to": "v1"}}},
    "services.<service>.mirror": {"services": {"reviews": {"to": "v1"}}},
    "services.<service>.routes[].match": {"services": {"reviews": {"routes": [{"to": "v1"}]}}},
    "stores.<store>": {"app": {"name": "bms"}, "istio": {"egressGateway": {"enabled": True}}},
    "egress.externalServices[].": {"egress": {"externalServices": [
        {"host": "api.example.com", "ports": [{"number": 443, "protocol": "TLS"}]}]}},
    "mesh": ONE_CLUSTER,
    "clusters": ONE_CLUSTER,
}


def merged(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return {**a, **b, **{k: merged(a[k], b[k]) for k in a.keys() & b.keys()}}
    if isinstance(a, list) and isinstance(b, list):
        return [merged(x, y) for x, y in zip(a, b)]
    return a


def reaching(at: str) -> tuple[dict, str]:
    """Config whose one fault is the unknown key `zz` in the mapping at `at`, and
    the key path the refusal must name."""
    parts = re.findall(r"[^.\[\]]+|\[\]", at)
    value: object = {"zz": 1}
    for part in reversed(parts):
        value = [value] if part == "[]" else {NAMED.get(part, part): value}
    for prefix, around in AROUND.items():
        if at.startswith(prefix):
            value = merged(value, around)
    path = "".join("[0]" if p == "[]" else f".{NAMED.get(p, p)}" for p in parts).lstrip(".")
    return value, f"bookinfo-mesh:{path}.zz" if path else "bookinfo-mesh:zz"


@pytest.mark.parametrize("at", list(CONFIG_KEYS), ids=lambda at: at or "<top>")
def test_each_table_is_what_the_parser_refuses_an_unknown_key_against(at):
    config, path = reaching(at)
    config = {**{key: SecretValue(SECRET_SHOWN) for key in SECRET_KEYS}, **config}
    with pytest.raises(ConfigError) as refused:
        parse_settings(config, stack="test", source="Pulumi.test.yaml")
    assert str(refused.value) == f"Pulumi.test.yaml: {path}: unknown key; allowed: {', '.join(CONFIG_KEYS[at])}"


def test_a_path_gets_one_table():
    with pytest.raises(ValueError, match="keys at 'istio' declared twice"):
        Keys("istio", "install")
    assert "protectCrds" in CONFIG_KEYS["istio"]


# --------------------------------------------------------------------------- Pulumi.yaml describes the table


def test_every_top_level_key_is_declared_and_every_declared_key_is_parsed():
    # Secret keys are left undeclared on purpose (the comment in Pulumi.yaml says why).
    assert set(DECLARED) == set(TOP_LEVEL) - set(SECRET_KEYS)
    assert all(f"bookinfo-mesh:{key}" in PROJECT_FILE for key in SECRET_KEYS)


def test_a_key_with_keys_under_it_is_declared_as_an_object():
    parents = {top_key(at) for at in CONFIG_KEYS if at}
    assert parents and all(DECLARED[key]["type"] == "object" for key in parents)


@pytest.mark.parametrize("at", [at for at in CONFIG_KEYS if at])
def test_every_key_the_parser_accepts_is_named_in_its_description(at):
    text = description(top_key(at))
    assert [key for key in CONFIG_KEYS[at] if not mentions(text, key)] == []


def accepted_under(key: str) -> set[str]:
    return {name for at, names in CONFIG_KEYS.items() if at and top_key(at) == key for name in names}


def resolves(parts: list[str], at: str) -> bool:
    """Whether the dotted key path `parts` is accepted below the table at `at`."""
    for i, part in enumerate(parts):
        if part not in CONFIG_KEYS.get(at, ()):
            return False
        at = f"{at}.{part}" if at else part
        if at not in CONFIG_KEYS:
            return i == len(parts) - 1
    return True


def keys_named_in(text: str) -> tuple[set[str], set[str]]:
    """Dotted key paths (`istiod.replicas`) and the first word of each entry inside
    braces (`{name, host, ports: ...}`), the two ways descriptions name keys."""
    text = re.sub(r"\{\{.*?\}\}", "", text)  # a PromQL placeholder is not a key
    dotted = set(re.findall(r"\b[a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)+\b", text))
    listed, previous = set(), ""
    parens, braces = 0, []  # the parenthesis depth at each open brace
    for token in re.findall(r"[{}\[\],|:()]|[^\s{}\[\],|:()]+", text):
        parens += {"(": 1, ")": -1}.get(token, 0)
        if token == "{":
            braces.append(parens)
        elif token == "}":
            braces.pop()
        elif braces and braces[-1] == parens and previous in ("{", ",") and re.fullmatch(r"[a-z][A-Za-z0-9]*", token):
            listed.add(token)
        previous = token
    return dotted, listed


def test_the_description_reader_finds_both_ways_of_naming_a_key():
    assert keys_named_in("a.b and {c, d: {e | f}, g (h, i)} ({{ j }})") == ({"a.b"}, {"c", "d", "e", "g"})


@pytest.mark.parametrize("key", sorted(k for k in DECLARED if accepted_under(k)))
def test_every_key_a_description_names_is_one_the_parser_accepts(key):
    dotted, listed = keys_named_in(description(key))
    assert sorted(p for p in dotted if not resolves(p.split("."), key) and not resolves(p.split("."), "")) == []
    assert sorted(listed - accepted_under(key)) == []


@pytest.mark.parametrize("key, allowed", [
    ("environment", f"{', '.join(list(ENVIRONMENTS)[:-1])} or {list(ENVIRONMENTS)[-1]}"),
    ("istio", " | ".join(OUTBOUND_POLICIES)),
    ("istio", " | ".join(SERVICE_TYPES)),
    ("app", " | ".join(APPLICATIONS)),
    ("services", " | ".join(MATCH_KINDS)),
    ("services", " | ".join(LOAD_BALANCERS)),
    ("security", " | ".join(MTLS_MODES)),
    ("security", " | ".join(AUTHORIZATION_MODES)),
    ("egress", " | ".join(RESOLUTIONS)),
    ("egress", " | ".join(PORT_PROTOCOLS)),
])
def test_the_allowed_values_a_description_lists_are_the_parsers(key, allowed):
    assert allowed in " ".join(description(key).split())


@pytest.mark.parametrize("key, default", [
    ("istio", DEFAULT_ISTIO_VERSION),
    ("rollout", f"window, default {Analysis.window}"),
    ("rollout", f"minRequests, default {Analysis.min_requests}"),
    ("rollout", f"default {Analysis.success_rate:g}"),
    ("rollout", f"default {Analysis.latency_p99_ms:g}"),
    *(("stores", f"default {size}") for size in {s.storage_size for a in APPLICATIONS.values() for s in a.stores}),
])
def test_the_defaults_a_description_states_are_the_parsers(key, default):
    assert default in " ".join(description(key).split())


def test_the_declared_environment_default_is_the_parsers():
    assert DECLARED["environment"]["default"] == DEFAULT_ENVIRONMENT
    assert mentions(description("environment"), f"Unset means {DEFAULT_ENVIRONMENT}")

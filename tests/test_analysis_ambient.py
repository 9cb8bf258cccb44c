"""The injection and Sidecar rules where a namespace runs in ambient mode, as Istio
1.30.3's analyzers judge it: IST0123 (BM128) when a namespace carries more than one of
the labels choosing its data plane, IST0167 (BM139) for a Sidecar with no sidecar to
configure, and the Sidecar conflicts (BM137, BM138) that ambient pods cannot have."""
from __future__ import annotations

import pytest

from model.analysis import analyze


def namespace(name="bookinfo", **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def found(objects, code):
    return [(f.kind, f.namespace, f.name) for f in analyze(objects) if f.code == code]


def sidecar(name, selector=None, ns="bookinfo"):
    spec = {"workloadSelector": {"labels": selector}} if selector else {}
    return {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": name, "namespace": ns},
            "spec": {**spec, "egress": [{"hosts": ["./*"]}]}}


def deployment(name, ns="bookinfo", **labels):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"template": {"metadata": {"labels": {"app": name, **labels}},
                                  "spec": {"containers": [{"name": name, "image": "x"}]}}}}


AMBIENT = {"istio.io/dataplane-mode": "ambient"}


@pytest.mark.parametrize("labels", [
    {"istio-injection": "enabled", **AMBIENT},
    {"istio.io/rev": "1-30", **AMBIENT},
    {"istio.io/rev": "", **AMBIENT},                              # present counts, as in injection.go
    {"istio-injection": "enabled", "istio.io/dataplane-mode": "none"},
    {"istio-injection": "enabled", "istio.io/rev": "1-30"},
])
def test_more_than_one_data_plane_label(labels):
    assert found([namespace(**labels)], "BM128") == [("Namespace", "", "bookinfo")]


@pytest.mark.parametrize("labels", [
    AMBIENT, {"istio-injection": "enabled"}, {"istio.io/rev": "1-30"},
    {"istio-injection": "disabled", **AMBIENT},                  # a value other than enabled switches the rest off
    {"istio-injection": "disabled", "istio.io/rev": "1-30"},
])
def test_one_data_plane_label_or_injection_switched_off(labels):
    assert found([namespace(**labels)], "BM128") == []


def test_istio_system_is_not_judged_and_the_message_names_the_labels():
    assert found([namespace("istio-system", **{"istio-injection": "enabled", **AMBIENT})], "BM128") == []
    [finding] = [f for f in analyze([namespace(**{"istio-injection": "enabled", **AMBIENT})]) if f.code == "BM128"]
    assert finding.istio == "IST0123" and finding.level == "warning"
    assert "metadata.labels istio-injection=enabled and istio.io/dataplane-mode=ambient" in finding.message


def test_ambient_namespace_is_not_reported_as_not_injected():
    assert found([namespace(**AMBIENT)], "BM126") == []
    assert found([namespace()], "BM126") == [("Namespace", "", "bookinfo")]


def test_namespace_wide_sidecar_in_an_ambient_namespace():
    assert found([namespace(**AMBIENT), sidecar("default")], "BM139") == [("Sidecar", "bookinfo", "default")]
    assert found([namespace(), sidecar("default")], "BM139") == []
    # Sidecar injection wins over the ambient label (util.NamespaceInAmbientMode).
    assert found([namespace(**{"istio-injection": "enabled", **AMBIENT}), sidecar("default")], "BM139") == []
    assert found([namespace(**{"istio.io/rev": "1-30", **AMBIENT}), sidecar("default")], "BM139") == []


def test_several_namespace_wide_sidecars_in_an_ambient_namespace_are_ineffective_not_conflicting():
    both = [sidecar("a"), sidecar("b")]
    assert sorted(found([namespace(**AMBIENT), *both], "BM139")) == [("Sidecar", "bookinfo", n) for n in "ab"]
    assert found([namespace(**AMBIENT), *both], "BM138") == []
    assert sorted(found([namespace(), *both], "BM138")) == [("Sidecar", "bookinfo", n) for n in "ab"]


def test_sidecars_selecting_ambient_workloads_are_ineffective_not_conflicting():
    both = [sidecar("a", {"app": "reviews"}), sidecar("b", {"app": "reviews"}), deployment("reviews")]
    assert sorted(found([namespace(**AMBIENT), *both], "BM139")) == [("Sidecar", "bookinfo", n) for n in "ab"]
    assert found([namespace(**AMBIENT), *both], "BM137") == []
    assert sorted(found([namespace(**{"istio-injection": "enabled"}), *both], "BM137")) == \
        [("Sidecar", "bookinfo", n) for n in "ab"]
    # A workload opting out of ambient (istio.io/dataplane-mode=none) keeps the conflict.
    opted_out = [sidecar("a", {"app": "reviews"}), sidecar("b", {"app": "reviews"}),
                 deployment("reviews", **{"istio.io/dataplane-mode": "none"})]
    assert found([namespace(**AMBIENT), *opted_out], "BM139") == []
    assert sorted(found([namespace(**AMBIENT), *opted_out], "BM137")) == [("Sidecar", "bookinfo", n) for n in "ab"]

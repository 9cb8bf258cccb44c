"""A stack with `clusters` judged through the one entry point
(`model.stack_analysis.analyze_stack`): per cluster, not as one heap of every
cluster's objects, plus the MC checks on the cluster plans; the program, `meshplan
check` and the policy pack get the same findings."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from meshplan.check import check_rendered
from model.analysis import CATALOGUE, ERROR
from model.analysis.registry import markdown_table
from model.multicluster import analysis as mc_analysis
from model.settings import parse_settings, read_stack_file
from model.stack_analysis import analyze_stack
from tests.conftest import ROOT, with_secrets_set
from tests.test_multicluster_program import render

EXAMPLES = ROOT / "examples" / "multicluster"


def settings_of(name: str):
    path = EXAMPLES / f"{name}.yaml"
    return parse_settings(with_secrets_set(read_stack_file(str(path))), stack=name, source=str(path))


def test_every_mc_code_is_in_the_catalogue_and_the_docs_table():
    assert {f"MC1{n:02d}" for n in range(1, 17)} <= set(CATALOGUE)
    assert "| MC116 | error |" in markdown_table()


@pytest.mark.parametrize("name", ["multi-primary-multi-network", "primary-remote-multi-network"])
def test_the_examples_are_judged_per_cluster_without_errors(name):
    rendered = render(name)
    findings = check_rendered(rendered)
    assert [str(f) for f in findings if f.level == ERROR] == []
    # The same objects judged as one cluster's heap collide with themselves (BM107, BM123).
    heap = analyze_stack(dataclasses.replace(rendered.settings, multicluster=None), rendered.objects(),
                         [r.inputs for r in rendered.releases()])
    if name.startswith("multi-primary"):
        assert {"BM107", "BM123"} <= {f.code for f in heap}


def test_a_plan_missing_a_remote_secret_is_found_through_the_one_entry_point(monkeypatch):
    settings = settings_of("multi-primary-multi-network")
    real = mc_analysis.cluster_plans

    def without_secrets(settings, mc):
        east, west = real(settings, mc)
        return dataclasses.replace(east, remote_secrets=()), west
    monkeypatch.setattr(mc_analysis, "cluster_plans", without_secrets)
    found = [str(f) for f in analyze_stack(settings, [], []) if f.code == "MC103"]
    assert found == ["error [MC103] Cluster east: istiod: no remote Secret for cluster west (labelled "
                     "istio/multiCluster=true in istio-system): its endpoints stay unknown here"]


def test_mc116_a_registration_without_a_provider():
    settings = settings_of("primary-remote-multi-network")
    found = analyze_stack(settings, [], [], registrations=[("east-x", "kubernetes:core/v1:Secret", None)])
    assert [f.code for f in found if f.code == "MC116"] == ["MC116"]
    rendered = render("primary-remote-multi-network")
    assert not [f for f in check_rendered(rendered) if f.code == "MC116"]
    assert all(cluster in ("east", "west") for _, _, cluster in rendered.provider_clusters())


def test_the_policy_pack_reads_a_multicluster_stack_file(tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "policy"))
    try:
        from bookinfo_policies import layered_settings
    finally:
        sys.path.remove(str(ROOT / "policy"))
    (tmp_path / "Pulumi.mc.yaml").write_text((EXAMPLES / "primary-remote-multi-network.yaml").read_text())
    settings = layered_settings("mc", Path(tmp_path))
    assert settings is not None and [c.name for c in settings.multicluster.clusters] == ["east", "west"]


def test_the_expose_objects_are_told_apart_by_kind_namespace_and_name_a_revisions_included():
    from model.multicluster.objects import (cross_network_gateway, is_expose_object, istiod_gateway,
                                            istiod_virtual_service)
    exposed = [cross_network_gateway(), istiod_gateway(), istiod_virtual_service(), istiod_virtual_service("canary")]
    assert all(is_expose_object(o) for o in exposed)
    elsewhere = {**istiod_gateway(), "metadata": {"name": "istiod-gateway", "namespace": "bookinfo"}}
    other_kind = {**istiod_virtual_service(), "kind": "DestinationRule"}
    named_otherwise = {**cross_network_gateway(), "metadata": {"name": "bookinfo-gateway", "namespace": "istio-system"}}
    assert not any(is_expose_object(o) for o in (elsewhere, other_kind, named_otherwise))

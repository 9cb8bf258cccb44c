"""BM188: the Kubernetes name rules run in the one analysis every entry point calls,
so `meshplan check`, the program and the policy pack each refuse an object whose
name, label or port name the API server would reject, naming the rule it breaks."""
from __future__ import annotations

import pulumi
import pytest

from components.checks import check_objects
from meshplan.cli import main
from model.analysis import CATALOGUE
from model.stack_analysis import analyze_stack
from policy import bookinfo_policies as pack
from tests.conftest import settings_from
from tests.manifests import as_yaml, bookinfo, find
from tests.test_policy import resources_of, stack_violations, urn

BAD_PORT = "error [BM188] Service default/reviews: spec.ports[0].name = 'http_web': not a DNS-1123 label"


def with_bad_port_name() -> list[dict]:
    objects = bookinfo()
    find(objects, "Service", "reviews")["spec"]["ports"][0]["name"] = "http_web"
    return objects


def test_the_rule_is_registered_as_an_error_beside_the_api_servers_validation():
    rule = CATALOGUE["BM188"]
    assert (rule.level, rule.other) == ("error", "Kubernetes API server validation")


def test_the_stack_analysis_names_each_field_its_value_and_the_rule():
    objects = bookinfo()
    find(objects, "Service", "ratings")["metadata"]["labels"]["service"] = "ratings-"
    find(objects, "ServiceAccount", "bookinfo-ratings")["metadata"]["name"] = "Bookinfo_Ratings"
    found = [str(f) for f in analyze_stack(settings_from({"app": {"namespace": "default"}}), objects, [])
             if f.code == "BM188"]
    assert found == [
        "error [BM188] ServiceAccount default/Bookinfo_Ratings: metadata.name = 'Bookinfo_Ratings': "
        "not a DNS-1123 subdomain",
        "error [BM188] Service default/ratings: metadata.labels.service = 'ratings-': not a label value"]


def test_meshplan_check_refuses_the_manifest(capsys, tmp_path):
    path = tmp_path / "bookinfo.yaml"
    path.write_text(as_yaml(with_bad_port_name()))
    assert main(["check", str(path)]) == 1
    located = BAD_PORT.replace("reviews:", f"reviews ({path}:88):")
    assert located in capsys.readouterr().out.splitlines()


def test_the_program_refuses_before_registering():
    with pytest.raises(pulumi.RunError, match=r"^1 analysis error\(s\): " + BAD_PORT.replace("[", r"\[")
                       .replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        check_objects(settings_from({"app": {"namespace": "default"}}), with_bad_port_name())


def test_the_policy_pack_refuses_the_stack_against_the_object():
    assert stack_violations(pack.validate_mesh_analysis, resources_of(with_bad_port_name())) == [
        (BAD_PORT, urn("prod", "Service", "reviews"))]

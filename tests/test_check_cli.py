"""`meshplan check` on manifest files and stacks, and findings in `render` output."""
from __future__ import annotations

import json
import re

from meshplan.cli import main
from model.analysis import Finding
from tests.manifests import as_yaml, bookinfo, destination_rules, find, gateway, platform


def check(capsys, *argv, located: bool = False):
    """Exit code, stdout, stderr; unless `located`, stdout without the ` (<file>:<line>)`
    after each object (tested on its own below)."""
    code = main(["check", *argv])
    captured = capsys.readouterr()
    out = captured.out if located else re.sub(r" \([^()\n]+:\d+\)(?=: )", "", captured.out)
    return code, out, captured.err


def write_sample(tmp_path, objects=None) -> list[str]:
    """The four sample files, as a user would pass them."""
    objects = objects or bookinfo()
    files = {"bookinfo.yaml": [o for o in objects if o["kind"] in ("Service", "ServiceAccount", "Deployment")],
             "bookinfo-gateway.yaml": [o for o in objects if o["metadata"]["name"] in ("bookinfo-gateway", "bookinfo")
                                       and o["kind"] in ("Gateway", "VirtualService")],
             "destination-rule-all.yaml": [o for o in objects if o["kind"] == "DestinationRule"],
             "virtual-service-all-v1.yaml": [o for o in objects if o["kind"] == "VirtualService"
                                             and o["metadata"]["name"] != "bookinfo"]}
    paths = []
    for name, items in files.items():
        path = tmp_path / name
        path.write_text(as_yaml(items))
        paths.append(str(path))
    return paths


def test_clean_sample_manifests_pass_with_warnings_only(capsys, tmp_path):
    code, out, _ = check(capsys, *write_sample(tmp_path))
    assert code == 0
    lines = out.splitlines()
    # What istioctl analyze says of upstream's files: subsets without pods, the
    # 8080 server port on its assumed gateway, and the ingress route without a subset.
    assert {line.split(" ", 3)[1] for line in lines} == {"[BM103]", "[BM114]", "[BM117]"}
    assert all(line.startswith("warning ") for line in lines)
    assert "warning [BM103] DestinationRule default/ratings: subset v2-mysql selects no pods " \
           "(app=ratings,version=v2-mysql in namespace default)" in lines


def test_unknown_subset_host_gateway_and_podless_subset_fail_naming_the_culprit(capsys, tmp_path):
    cases = {
        "subset": (lambda o: find(o, "VirtualService", "reviews")["spec"]["http"][0]["route"][0]["destination"]
                   .update(subset="v7"), "error [BM102] VirtualService default/reviews: http[0]: subset v7 of reviews"),
        "host": (lambda o: find(o, "VirtualService", "details")["spec"]["http"][0]["route"][0]["destination"]
                 .update(host="detials"), "error [BM101] VirtualService default/details: http[0]: destination host detials"),
        "gateway": (lambda o: find(o, "VirtualService", "bookinfo")["spec"].update(gateways=["bookinfo-gw"]),
                    "error [BM104] VirtualService default/bookinfo: gateway default/bookinfo-gw is not defined"),
        "no pods": (lambda o: find(o, "VirtualService", "ratings")["spec"]["http"][0]["route"][0]["destination"]
                    .update(subset="v2"), "error [BM103] DestinationRule default/ratings: subset v2 selects no pods"),
    }
    for name, (mutate, expected) in cases.items():
        objects = bookinfo()
        mutate(objects)
        folder = tmp_path / name.replace(" ", "-")
        folder.mkdir()
        code, out, _ = check(capsys, *write_sample(folder, objects))
        assert code == 1, name
        assert any(line.startswith(expected) for line in out.splitlines()), (name, out)


def test_gateway_option_replaces_the_default_gateway_assumption(capsys, tmp_path):
    paths = write_sample(tmp_path)
    code, out, _ = check(capsys, *paths, "--gateway", "istio=ingress@istio-ingress/istio-ingress")
    assert code == 1
    assert "error [BM106] Gateway default/bookinfo-gateway: selector istio=ingressgateway matches no gateway " \
           "workload (gateways: istio=ingress)" in out


def test_json_format_and_namespace_option(capsys, tmp_path):
    path = tmp_path / "all.yaml"
    path.write_text(as_yaml(platform() + gateway() + destination_rules()))
    code, out, _ = check(capsys, str(path), "--format", "json", "--namespace", "bookinfo")
    assert code == 0
    findings = json.loads(out)["findings"]
    assert {f["namespace"] for f in findings} == {"bookinfo"}
    assert set(findings[0]) == {"level", "code", "istio", "kiali", "kind", "namespace", "name", "message", "file",
                                "line"}
    assert {(f["code"], f["istio"]) for f in findings} >= {("BM103", "IST0173"), ("BM114", "IST0162")}


MANIFEST = """# reviews, then a List holding ratings
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: nowhere}
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  metadata: {name: ratings}
  kind: VirtualService
  spec:
    hosts: [ratings]
    http:
    - route:
      - destination: {host: gone}
"""


def test_findings_on_files_name_the_file_and_the_line_of_the_objects_kind(capsys, tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text(MANIFEST)
    code, out, _ = check(capsys, str(path), located=True)
    assert code == 1
    assert [line.split(": http[0]")[0] for line in out.splitlines()] == [
        f"error [BM101] VirtualService bookinfo/reviews ({path}:3)",
        f"error [BM101] VirtualService default/ratings ({path}:18)"]
    code, out, _ = check(capsys, str(path), "--format", "json")
    assert [(f["name"], f["file"], f["line"]) for f in json.loads(out)["findings"]] == [
        ("reviews", str(path), 3), ("ratings", str(path), 18)]


def test_a_json_manifest_is_located_too_and_a_rendered_stack_is_not(capsys, tmp_path):
    path = tmp_path / "vs.json"
    path.write_text('{\n  "apiVersion": "networking.istio.io/v1",\n  "metadata": {"name": "reviews"},\n'
                    '  "kind": "VirtualService",\n  "spec": {"hosts": ["reviews"], "http": [{"route": '
                    '[{"destination": {"host": "nowhere"}}]}]}\n}\n')
    code, out, _ = check(capsys, str(path), "--format", "json")
    assert [(f["file"], f["line"]) for f in json.loads(out)["findings"]] == [(str(path), 4)]
    code, out, _ = check(capsys, "--stack", "dev", "--format", "json")
    assert json.loads(out)["findings"] and not any({"file", "line"} & set(f) for f in json.loads(out)["findings"])


def test_stack_check_passes_and_bad_files_are_one_line_errors(capsys, tmp_path):
    # The one warning every Bookinfo stack carries, explained in the README.
    code, out, _ = check(capsys, "--stack", "prod")
    assert code == 0 and [line.split(" ", 3)[1] for line in out.splitlines()] == ["[BM117]"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: [a, list\n")
    code, _, err = check(capsys, str(bad))
    assert code == 1 and err.startswith(f"error: {bad}: line 2, column 1: invalid YAML") and err.count("\n") == 1


def test_render_prints_findings_to_stdout_in_text_and_to_stderr_otherwise(capsys, monkeypatch):
    import meshplan.check

    finding = Finding("warning", "BM105", "VirtualService", "bookinfo", "bookinfo", "host x is not among ...")
    monkeypatch.setattr(meshplan.check, "check_rendered", lambda rendered: [finding])
    assert main(["render", "--stack", "dev", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["stack"] == "dev"
    assert captured.err == f"{finding}\n"
    assert main(["render", "--stack", "dev"]) == 0
    assert captured.err == f"{finding}\n" and str(finding) in capsys.readouterr().out


def test_directories_and_gateway_ports_keep_the_port_check_on(capsys, tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    write_sample(folder)
    code, out, _ = check(capsys, str(folder), "--gateway", "istio=ingressgateway@istio-system/istio-ingressgateway:80,443")
    assert code == 0
    assert "warning [BM114] Gateway default/bookinfo-gateway: server port 8080 is not a port of gateway Service " \
           "istio-system/istio-ingressgateway (ports: 80, 443) [gateway given with --gateway]" in out
    code, out, _ = check(capsys, str(folder), "--gateway", "istio=ingressgateway@istio-system/istio-ingressgateway")
    assert "Service ports assumed 80, 443, 15021 (add :PORTS to say)" in out
    code, _, err = check(capsys, str(folder), "--gateway", "istio=x:http")
    assert code == 1 and err.startswith("error: --gateway") and err.count("\n") == 1


def test_crds_option_reports_schema_and_cel_errors(capsys, tmp_path):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "spec": {"group": "networking.istio.io", "names": {"kind": "VirtualService"},
                    "versions": [{"name": "v1", "served": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {
                            "type": "object", "properties": {
                                "hosts": {"type": "array", "items": {"type": "string"}},
                                "timeout": {"type": "string", "x-kubernetes-validations": [
                                    {"rule": "duration(self) >= duration('1ms')",
                                     "message": "must be a valid duration greater than 1ms"}]}}}}}}}]}}
    crds = tmp_path / "crds.yaml"
    crds.write_text(as_yaml([crd]))
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "v"},
          "spec": {"hosts": ["reviews"], "timeout": 1, "htp": []}}
    path = tmp_path / "vs.yaml"
    path.write_text(as_yaml([vs]))
    code, out, _ = check(capsys, str(path), "--crds", str(crds), "--format", "json")
    schema = [f["message"] for f in json.loads(out)["findings"] if f["code"] == "BM135"]
    assert code == 1 and all(f for f in schema)
    assert "spec.timeout: 1 is not of type 'string'" in schema
    vs["spec"]["timeout"] = "1us"
    path.write_text(as_yaml([vs]))
    code, out, _ = check(capsys, str(path), "--crds", str(crds), "--format", "json")
    schema = [f["message"] for f in json.loads(out)["findings"] if f["code"] == "BM135"]
    assert "spec.timeout: must be a valid duration greater than 1ms" in schema
    assert any("'htp' was unexpected" in m for m in schema)
    code, _, err = check(capsys, str(path), "--crds", str(tmp_path / "none.yaml"))
    assert code == 1 and "no such file (--crds)" in err


CRD_FILE_REFUSALS = {
    "aliases": ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                "e: [*d, *d]\n",
                "line 3, column 4: aliases expand to more than 10,000 nodes, the limit for a manifest"),
    "duplicate key": ("kind: CustomResourceDefinition\nkind: Other\n",
                      "line 2, column 1: key 'kind' given twice in one mapping (the last would silently win)"),
    "recursive": ("a: &a [*a]\n", "line 1, column 4: an alias inside the node it refers to (a recursive structure)"),
    "deep": ("[" * 70 + "]" * 70 + "\n", "nested deeper than 64 levels, the limit for a manifest"),
}


def test_the_crd_file_is_read_with_the_limits_of_every_other_reader(capsys, tmp_path):
    """`--crds` goes through model/safe_files.py like every file meshplan reads."""
    manifest = tmp_path / "vs.yaml"
    manifest.write_text(as_yaml([gateway()]))
    for case, (text, refusal) in CRD_FILE_REFUSALS.items():
        crds = tmp_path / f"{case.replace(' ', '-')}.yaml"
        crds.write_text(text)
        code, out, err = check(capsys, str(manifest), "--crds", str(crds))
        assert (code, out) == (1, ""), case
        assert err.startswith(f"error: {crds}: ") and err.rstrip("\n").endswith(refusal) and err.count("\n") == 1, err

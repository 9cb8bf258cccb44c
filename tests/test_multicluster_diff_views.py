"""`meshplan diff` of a stack with `clusters`: a traffic change once with the primaries
it applies to (whatever the base: another file, a git ref, an exported state), a
primary that drifted in the base shown apart and as MC111, and the install changes
(mesh and clusters settings) in their own section."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from meshplan.cli import main
from tests.conftest import ROOT, render_file
from tests.multicluster_stacks import EXAMPLES, MULTI_PRIMARY_MULTI_NETWORK, PRIMARY_REMOTE_MULTI_NETWORK

MULTI_PRIMARY = str(EXAMPLES / "multi-primary-multi-network.yaml")
STACK = "multi-primary-multi-network"
REVIEWS = "bookinfo/reviews  #0 default  reviews v"


def run(capsys, *argv):
    code = main(["diff", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def install_section(out: str) -> list[str]:
    """The lines of a text diff's install section."""
    return out.split("Install (mesh and clusters, before → after)\n", 1)[1].split("\n\n", 1)[0].splitlines()


def edited(tmp_path, text: str, edit, name: str = f"Pulumi.{STACK}.yaml"):
    """A copy of an example with its config edited in place by `edit(config)`."""
    document = yaml.safe_load(text)
    edit(document["config"])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def reweighted(config, weights=None):
    config["bookinfo-mesh:services"]["reviews"]["weights"] = weights or {"v1": 40, "v2": 30, "v3": 30}


def export_of(rendered, *, weights_on: dict[str, dict] | None = None) -> dict:
    """A `pulumi stack export` of `rendered` as the engine writes it, each resource
    with its provider; `weights_on`: cluster → reviews weights its VirtualService
    holds instead (a primary that drifted)."""
    resources = [{"urn": p.urn, "custom": True, "type": p.type, "inputs": {}} for p in rendered.providers()]
    for r in rendered.resources:
        if r.type.startswith("pulumi:providers:"):
            continue
        inputs = json.loads(json.dumps(r.inputs))
        cluster = r.name.split("-", 1)[0]
        if r.name.endswith("routing-virtualservice-reviews") and cluster in (weights_on or {}):
            for route in inputs["spec"]["http"][0]["route"]:
                route["weight"] = weights_on[cluster][route["destination"]["subset"]]
        record = {"urn": r.urn, "custom": r.custom, "type": r.type, "inputs": inputs, "parent": r.parent}
        if r.provider:
            record["provider"] = r.provider
        resources.append(record)
    return {"version": 3, "deployment": {"manifest": {"time": "2026-01-01T00:00:00Z"}, "resources": resources}}


def test_a_traffic_change_shows_once_with_the_primaries_it_applies_to(capsys, tmp_path):
    proposed = edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, reweighted)
    code, out, _ = run(capsys, "--config", str(proposed), "--base-config", MULTI_PRIMARY)
    assert code == 2
    traffic = out.split("Traffic (effective share per route, before → after)\n", 1)[1].split("\n\n", 1)[0]
    assert traffic.splitlines() == [
        "  applies to primaries east, west",
        f"  {REVIEWS}1             50% →   40%  (-10)",
        f"  {REVIEWS}3             20% →   30%  (+10)",
    ]
    code, out, _ = run(capsys, "--config", str(proposed), "--base-config", MULTI_PRIMARY, "--format", "markdown")
    assert "#### Traffic\n\nApplies to primaries east, west:\n\n| VirtualService |" in out
    assert out.count("| `bookinfo/reviews` |") == 2
    code, out, _ = run(capsys, "--config", str(proposed), "--base-config", MULTI_PRIMARY, "--format", "json")
    document = json.loads(out)
    assert document["primaries"] == ["east", "west"]
    assert [(t["subset"], t["before"], t["after"], t["primaries"]) for t in document["traffic"]] == [
        ("v1", 50, 40, ["east", "west"]), ("v3", 20, 30, ["east", "west"])]
    assert "install" not in document


def test_an_exported_state_of_both_primaries_counts_each_share_once(capsys, tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps(export_of(render_file(MULTI_PRIMARY, STACK))))
    proposed = edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, reweighted)
    code, out, err = run(capsys, "--config", str(proposed), "--against-state", str(state), "--format", "json")
    assert code == 2, err
    document = json.loads(out)
    assert [(t["subset"], t["before"], t["after"], t["primaries"]) for t in document["traffic"]] == [
        ("v1", 50, 40, ["east", "west"]), ("v3", 20, 30, ["east", "west"])]
    assert document["installNotCompared"].startswith("an exported state holds no stack config")
    assert "install" not in document


def test_a_primary_that_drifted_in_the_base_shows_its_own_change_and_mc111(capsys, tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps(export_of(render_file(MULTI_PRIMARY, STACK),
                                          weights_on={"west": {"v1": 80, "v2": 10, "v3": 10}})))
    proposed = edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, reweighted)
    code, out, _ = run(capsys, "--config", str(proposed), "--against-state", str(state))
    assert code == 2  # the drift is the base's: shown, not failed
    traffic = out.split("Traffic (effective share per route, before → after)\n", 1)[1].split("\n\n", 1)[0]
    assert traffic.splitlines() == [
        "  applies to primary east",
        f"  {REVIEWS}1             50% →   40%  (-10)",
        f"  {REVIEWS}3             20% →   30%  (+10)",
        "  applies to primary west",
        f"  {REVIEWS}1             80% →   40%  (-40)",
        f"  {REVIEWS}2             10% →   30%  (+20)",
        f"  {REVIEWS}3             10% →   30%  (+20)",
    ]
    assert ("  error [MC111] Cluster west: VirtualService bookinfo/reviews in the base: differs compared with "
            "primary east: primaries must carry the same traffic config") in out.splitlines()


def install_edits(config):
    config["bookinfo-mesh:mesh"]["id"] = "mesh2"
    config["bookinfo-mesh:mesh"]["trustDomain"] = "example.org"
    clusters = config["bookinfo-mesh:clusters"]
    clusters["west"]["network"] = "net-w2"
    clusters["west"]["apiServer"] = "https://10.1.0.11:6443"
    clusters["east"]["eastWest"] = {"serviceType": "NodePort", "address": "34.75.71.238"}


def test_install_changes_have_their_own_section_one_line_each(capsys, tmp_path):
    proposed = edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, install_edits)
    code, out, _ = run(capsys, "--config", str(proposed), "--base-config", MULTI_PRIMARY)
    assert code == 2
    assert out.splitlines()[1].endswith("; install: 6 changes")
    assert install_section(out) == [
        "  mesh.id: mesh1 → mesh2 (every istiod's global.meshID)",
        "  mesh.trustDomain: cluster.local → example.org (every workload identity changes)",
        "  clusters.east.eastWest.serviceType: LoadBalancer → NodePort",
        "  clusters.east.eastWest.address: 34.75.71.237 → 34.75.71.238",
        "  clusters.west.network: net-west → net-w2 (network move)",
        "  clusters.west.apiServer: https://10.1.0.10:6443 → https://10.1.0.11:6443",
    ]
    code, out, _ = run(capsys, "--config", str(proposed), "--base-config", MULTI_PRIMARY, "--format", "markdown")
    assert "#### Install (mesh and clusters)\n\n- `mesh.id: mesh1 → mesh2 (every istiod's global.meshID)`\n" in out
    code, out, _ = run(capsys, "--config", str(proposed), "--base-config", MULTI_PRIMARY, "--format", "json")
    install = json.loads(out)["install"]
    assert install[4] == {"path": "clusters.west.network", "change": "changed", "before": "net-west",
                          "after": "net-w2", "note": "network move"}
    assert len(install) == 6


def test_a_gateway_address_now_read_from_the_cluster_is_an_install_change(capsys):
    examples = "examples/multicluster"
    code, out, _ = run(capsys, "--config", f"{examples}/primary-remote-discovered-address.yaml",
                       "--base-config", f"{examples}/primary-remote-multi-network.yaml", "--format", "json")
    assert [c for c in json.loads(out)["install"] if c["path"].startswith("clusters.east.eastWest")] == [
        {"path": "clusters.east.eastWest.address", "change": "changed", "before": "34.75.71.237", "after": None},
        {"path": "clusters.east.eastWest.discover", "change": "changed", "before": None, "after": "true"}]


def test_an_api_server_change_no_resource_shows_is_still_a_change(capsys, tmp_path):
    def api_server(config):
        config["bookinfo-mesh:clusters"]["west"]["apiServer"] = "https://10.1.0.11:6443"
    proposed = edited(tmp_path, MULTI_PRIMARY_MULTI_NETWORK, api_server)
    code, out, _ = run(capsys, "--config", str(proposed), "--base-config", MULTI_PRIMARY, "--format", "json")
    document = json.loads(out)
    assert (code, document["changes"], len(document["install"])) == (2, [], 1)


def test_clusters_added_removed_and_a_remote_turned_primary_are_install_lines(capsys, tmp_path):
    def third(config):
        clusters = config["bookinfo-mesh:clusters"]
        clusters["north"] = {"role": "remote", "network": "net-east", "controlPlane": "east",
                             "kubeconfig": {"secret": "kubeconfig-north"}, "apiServer": "https://10.2.0.10:6443"}
    base = edited(tmp_path, PRIMARY_REMOTE_MULTI_NETWORK, third, name="Pulumi.base.yaml")
    code, out, err = run(capsys, "--config", MULTI_PRIMARY, "--base-config", str(base), "--stack", STACK)
    assert code == 2, err
    assert install_section(out) == [
        "  clusters.west.role: remote → primary",
        "  clusters.west.controlPlane: east → (none)",
        "  clusters.west.eastWest.address: (none) → 35.1.2.3",
        "  clusters.north removed: remote of east on net-east",
    ]
    code, out, _ = run(capsys, "--config", str(base), "--base-config", MULTI_PRIMARY, "--stack", STACK)
    assert "  clusters.north added: remote of east on net-east" in out.splitlines()


def test_nothing_changed_means_no_install_section_and_exit_zero(capsys):
    code, out, _ = run(capsys, "--config", MULTI_PRIMARY, "--base-config", MULTI_PRIMARY)
    assert code == 0 and "Install" not in out and "applies to" not in out
    code, out, _ = run(capsys, "--config", MULTI_PRIMARY, "--base-config", MULTI_PRIMARY, "--format", "json")
    document = json.loads(out)
    assert (document["primaries"], document["traffic"], "install" in document) == (["east", "west"], [], False)


def _git(repo, *args) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                           *args], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_base_ref_of_a_multicluster_stack_shows_traffic_once_and_the_install_changes(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".git", "venv", "__pycache__", ".pytest_cache", ".hypothesis", "Pulumi.*.yaml"))
    stack_file = repo / "Pulumi.mc.yaml"
    stack_file.write_text(MULTI_PRIMARY_MULTI_NETWORK)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    document = yaml.safe_load(MULTI_PRIMARY_MULTI_NETWORK)
    reweighted(document["config"])
    document["config"]["bookinfo-mesh:clusters"]["west"]["network"] = "net-w2"
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    _git(repo, "commit", "-qam", "proposed")
    done = subprocess.run([sys.executable, "-m", "meshplan", "diff", "--stack", "mc", "--base-ref", "HEAD~1",
                           "--format", "json"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    result = json.loads(done.stdout)
    assert [(t["subset"], t["before"], t["after"], t["primaries"]) for t in result["traffic"]] == [
        ("v1", 50, 40, ["east", "west"]), ("v3", 20, 30, ["east", "west"])]
    assert [(i["path"], i["before"], i["after"]) for i in result["install"]] == [
        ("clusters.west.network", "net-west", "net-w2")]


def test_a_provider_that_is_not_a_reference_in_a_state_is_one_line_naming_it(capsys, tmp_path):
    document = export_of(render_file(MULTI_PRIMARY, STACK))
    document["deployment"]["resources"][3]["provider"] = 5
    state = tmp_path / "state.json"
    state.write_text(json.dumps(document))
    code, out, err = run(capsys, "--config", MULTI_PRIMARY, "--against-state", str(state))
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == f"error: {state}: deployment.resources[3].provider = 5: expected a string"


def test_a_base_stack_file_this_code_cannot_parse_is_named_at_its_ref(monkeypatch, tmp_path):
    from meshplan.diff import states

    path = tmp_path / "Pulumi.mc.yaml"
    for text, where in (("config:\n  bookinfo-mesh:clusters: 3\n", "bookinfo-mesh:clusters"),
                        ("config: [unclosed\n", "")):
        monkeypatch.setattr(states, "stack_file_at_ref", lambda ref, config: text)
        base, why = states.settings_at_ref("HEAD~1", path, "mc")
        assert base is None
        assert why.startswith(f"the base stack file does not parse here (HEAD~1:{path}: {where}"), why
        assert "meshplan-base-" not in why

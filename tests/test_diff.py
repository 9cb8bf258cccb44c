"""`meshplan diff`: resource changes, traffic shares, formats, exit codes, the step
guard, exported states and git refs."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from meshplan.cli import main
from meshplan.diff.compare import forces_replace, property_changes
from meshplan.diff.states import state_from_export
from meshplan.render.recording import SECRET_KEY, SECRET_SIG
from meshplan.diff.formats import use_colour
from tests.conftest import EXAMPLES, ROOT, render_file

TASKS = EXAMPLES / "istio-tasks"
ALL_V1 = str(TASKS / "all-v1.yaml")
FIFTY = str(TASKS / "reviews-50-v3.yaml")
V3 = str(TASKS / "reviews-v3.yaml")


def run(capsys, *argv):
    code = main(["diff", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_all_v1_to_fifty_fifty_is_one_virtual_service_update_and_a_traffic_shift(capsys):
    code, out, err = run(capsys, "--config", FIFTY, "--base-config", ALL_V1, "--format", "json")
    assert code == 2
    document = json.loads(out)
    assert set(document) == {"summary", "changes", "traffic", "findings", "rolloutPlan"}
    assert document["summary"] == {"counts": {"create": 0, "update": 1, "replace": 0, "delete": 0},
                                   "line": "1 to update; traffic: reviews v1 100% → 50%, v3 0% → 50%"}
    assert [f["code"] for f in document["findings"]] == ["BM117"]
    assert document["rolloutPlan"] == [
        {"namespace": "bookinfo", "service": "reviews", "canary": "v3", "maxStep": None,
         "steps": [{"step": 1, "canaryPercent": 50, "weights": {"v1": 50, "v3": 50}}],
         "command": f"meshplan rollout --config {FIFTY} --service reviews --to v3 --steps 50"}]
    [change] = document["changes"]
    assert {k: change[k] for k in ("op", "type", "name")} == {
        "op": "update", "type": "kubernetes:networking.istio.io/v1:VirtualService",
        "name": "routing-virtualservice-reviews"}
    assert change["urn"].endswith("::routing-virtualservice-reviews")
    assert {d["path"] for d in change["diff"]} == {"spec.http[0].route[0].weight", "spec.http[0].route[1]"}
    assert document["traffic"] == [
        {"virtualService": "reviews", "namespace": "bookinfo", "route": "#0 default", "host": "reviews",
         "subset": "v1", "before": 100, "after": 50},
        {"virtualService": "reviews", "namespace": "bookinfo", "route": "#0 default", "host": "reviews",
         "subset": "v3", "before": 0, "after": 50},
    ]


def test_same_state_on_both_sides_exits_zero(capsys):
    code, out, _ = run(capsys, "--config", FIFTY, "--base-config", FIFTY, "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert {k: document[k] for k in ("changes", "traffic", "rolloutPlan")} == {"changes": [], "traffic": [],
                                                                               "rolloutPlan": []}
    assert document["summary"] == {"counts": {"create": 0, "update": 0, "replace": 0, "delete": 0},
                                   "line": "no resource changes"}


def test_text_names_the_shift_and_colours_only_on_a_terminal(capsys, monkeypatch):
    code, out, _ = run(capsys, "--config", FIFTY, "--base-config", ALL_V1)
    assert code == 2
    assert "1 to update; traffic: reviews v1 100% → 50%, v3 0% → 50%" in out
    assert "\033[" not in out

    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Terminal())
    monkeypatch.setenv("NO_COLOR", "")
    assert not use_colour(Terminal())


def test_markdown_has_summary_resource_table_traffic_table_and_mermaid_graph(capsys):
    code, out, _ = run(capsys, "--config", FIFTY, "--base-config", ALL_V1, "--format", "markdown")
    assert code == 2
    assert "**1 to update; traffic: reviews v1 100% → 50%, v3 0% → 50%**" in out
    assert "| ~ update | `kubernetes:networking.istio.io/v1:VirtualService` | `routing-virtualservice-reviews` |" in out
    assert "| `bookinfo/reviews` | #0 default | reviews v1 | 100% | 50% | -50 |" in out
    assert "| `bookinfo/reviews` | #0 default | reviews v3 | 0% | 50% | +50 |" in out
    graph = out.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert graph.startswith("flowchart LR\n")
    ids = {line.split("(")[0].split("[")[0].split("{")[0].strip(): line for line in graph.splitlines()[1:]
           if "--" not in line}
    label_of = {key: line.split('"')[1] for key, line in ids.items()}
    by_label = {v: k for k, v in label_of.items()}
    assert f'{by_label["reviews"]} -->|"100% → 50%"| {by_label["reviews v1"]}' in graph
    assert f'{by_label["reviews"]} -->|"0% → 50%"| {by_label["reviews v3"]}' in graph
    assert f'{by_label["bookinfo-gateway"]} -->|"100%"| {by_label["productpage"]}' in graph
    assert f'{by_label["ratings"]} -->|"100%"| {by_label["ratings v1"]}' in graph


def test_jump_beyond_max_step_is_refused_naming_reviews(capsys):
    code, _, err = run(capsys, "--config", V3, "--base-config", FIFTY, "--max-step", "25")
    assert code == 1
    lines = err.strip().splitlines()
    assert lines == [
        "error: step guard: VirtualService bookinfo/reviews route '#0 default' moves reviews v3 50% → 100% "
        "(+50 points), more than the maximum step of 25 points",
    ]
    assert all("VirtualService bookinfo/reviews" in line for line in lines)
    code, _, err = run(capsys, "--config", V3, "--base-config", FIFTY, "--max-step", "25", "--allow-jump")
    assert (code, err) == (2, "")
    code, _, _ = run(capsys, "--config", V3, "--base-config", FIFTY, "--max-step", "50")
    assert code == 2
    code, _, err = run(capsys, "--config", V3, "--base-config", ALL_V1, "--max-step", "25")
    assert code == 1 and "moves reviews v3 0% → 100% (+100 points)" in err


def test_max_step_defaults_to_the_stack_setting(capsys, tmp_stack):
    path = tmp_stack(V3_TEXT.replace("config:\n", "config:\n  bookinfo-mesh:rollout:\n    maxStep: 25\n", 1))
    code, _, err = run(capsys, "--config", str(path), "--base-config", ALL_V1)
    assert code == 1 and "moves reviews v3 0% → 100% (+100 points)" in err


V3_TEXT = (TASKS / "reviews-v3.yaml").read_text()


def test_bad_inputs_exit_one_with_one_line(capsys):
    code, _, err = run(capsys, "--config", FIFTY)
    assert code == 1 and err.count("\n") == 1 and "give exactly one base" in err
    code, _, err = run(capsys, "--config", FIFTY, "--against-state", "/nonexistent/state.json")
    assert code == 1 and "no such state file" in err


def export_of(rendered, *, extra_inputs=None):
    """A `pulumi stack export` document as the engine would write it for `rendered`."""
    resources = [{"urn": f"urn:pulumi:{rendered.stack}::bookinfo-mesh::pulumi:providers:kubernetes::default",
                  "custom": True, "type": "pulumi:providers:kubernetes", "inputs": {}}]
    for r in rendered.resources:
        inputs = json.loads(json.dumps(r.inputs))
        if r.type == "kubernetes:helm.sh/v3:Release":
            inputs.update({"atomic": False, "timeout": 300, "compat": "true", "skipAwait": False})  # provider defaults
        inputs.update((extra_inputs or {}).get(r.name, {}))
        resources.append({"urn": r.urn, "custom": r.custom, "type": r.type, "inputs": inputs,
                          "outputs": inputs, "parent": r.parent})
    return {"version": 3, "deployment": {"manifest": {"time": "2026-01-01T00:00:00Z"}, "resources": resources}}


def test_diff_against_an_exported_state_compares_by_urn(capsys, tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps(export_of(render_file(ALL_V1, "dev"))))
    code, out, _ = run(capsys, "--config", FIFTY, "--stack", "dev", "--against-state", str(state), "--format", "json")
    assert code == 2
    document = json.loads(out)
    assert [c["name"] for c in document["changes"]] == ["routing-virtualservice-reviews"]
    assert [(t["subset"], t["before"], t["after"]) for t in document["traffic"]] == [("v1", 100, 50), ("v3", 0, 50)]

    state.write_text(json.dumps(export_of(render_file(FIFTY, "dev"))))
    code, out, _ = run(capsys, "--config", FIFTY, "--stack", "dev", "--against-state", str(state), "--format", "json")
    assert (code, json.loads(out)["changes"], json.loads(out)["traffic"]) == (0, [], [])


def test_secrets_in_a_state_never_appear(capsys, tmp_path):
    secret = {SECRET_KEY: SECRET_SIG, "ciphertext": "v1:SECRETCIPHERTEXT"}
    plaintext = {SECRET_KEY: SECRET_SIG, "plaintext": '"hunter2"'}
    document = export_of(render_file(FIFTY, "dev"), extra_inputs={
        "routing-virtualservice-reviews": {"token": secret, "password": plaintext}})
    state = tmp_path / "state.json"
    state.write_text(json.dumps(document))
    for fmt in ("text", "markdown", "json"):
        code, out, err = run(capsys, "--config", FIFTY, "--stack", "dev", "--against-state", str(state),
                             "--format", fmt)
        assert code == 2
        assert "SECRETCIPHERTEXT" not in out + err and "hunter2" not in out + err
        assert "[secret]" in out
    assert state_from_export(state).resources[
        "bookinfo-mesh::bookinfo-mesh:routing:Routing$kubernetes:networking.istio.io/v1:VirtualService"
        "::routing-virtualservice-reviews"].inputs["token"] == "[secret]"


def test_a_secret_standing_for_a_whole_list_in_a_state_is_read_not_refused(capsys, tmp_path):
    # A secret hides its value's shape too: the masked hosts and routes of an exported
    # VirtualService cannot be checked as lists, and are not refused as not being lists.
    document = export_of(render_file(FIFTY, "dev"))
    [reviews] = [r for r in document["deployment"]["resources"]
                 if r["urn"].endswith("::routing-virtualservice-reviews")]
    for field in ("hosts", "http"):
        reviews["inputs"]["spec"][field] = {SECRET_KEY: SECRET_SIG, "ciphertext": f"v1:SECRET{field.upper()}"}
    state = tmp_path / "state.json"
    state.write_text(json.dumps(document))
    code, out, err = run(capsys, "--config", FIFTY, "--stack", "dev", "--against-state", str(state), "--format", "json")
    assert code == 2 and "error" not in err
    document = json.loads(out)
    [change] = document["changes"]
    assert change["name"] == "routing-virtualservice-reviews"
    assert {d["path"]: d["before"] for d in change["diff"]} == {"spec.hosts": "[secret]", "spec.http": "[secret]"}
    # Hidden routes have no known shares: the base side of the traffic is unknown.
    assert [(t["subset"], t["before"], t["after"]) for t in document["traffic"]] == [("v1", None, 50), ("v3", None, 50)]
    for fmt in ("text", "markdown"):
        code, out, err = run(capsys, "--config", FIFTY, "--stack", "dev", "--against-state", str(state), "--format", fmt)
        assert code == 2 and "error" not in err and "SECRETHTTP" not in out


def test_changes_kubernetes_cannot_apply_in_place_are_replacements():
    deployment = "kubernetes:apps/v1:Deployment"
    before = {"metadata": {"name": "reviews-v1"}, "spec": {"selector": {"matchLabels": {"app": "reviews"}},
                                                           "replicas": 1}}
    after = {"metadata": {"name": "reviews-v1"}, "spec": {"selector": {"matchLabels": {"app": "reviewz"}},
                                                          "replicas": 2}}
    changes = {c.path: c.replaces for c in property_changes(deployment, before, after)}
    assert changes == {"spec.selector.matchLabels.app": True, "spec.replicas": False}
    assert forces_replace("kubernetes:networking.istio.io/v1:VirtualService", "metadata.namespace")
    assert not forces_replace("kubernetes:networking.istio.io/v1:VirtualService", "spec.http[0]")
    assert forces_replace("kubernetes:core/v1:Service", "spec.clusterIP")
    assert forces_replace("kubernetes:apps/v1:StatefulSet", "spec.volumeClaimTemplates[0].spec")
    assert forces_replace("kubernetes:helm.sh/v3:Release", "name")
    assert not forces_replace("kubernetes:helm.sh/v3:Release", "values.service.type")
    assert not forces_replace("kubernetes:apps/v1:Deployment", "spec.selectorx")


def test_a_replacement_and_a_namespace_move_show_as_replace(capsys, tmp_stack):
    moved = tmp_stack(FIFTY_TEXT.replace("config:\n", "config:\n  bookinfo-mesh:app:\n    namespace: shop\n", 1))
    code, out, _ = run(capsys, "--config", str(moved), "--stack", "dev", "--base-config", FIFTY, "--format", "json")
    assert code == 2
    ops = {c["name"]: c["op"] for c in json.loads(out)["changes"]}
    assert ops["routing-virtualservice-reviews"] == "replace"
    assert ops["workloads-deployment-reviews-v1"] == "replace"
    assert ops["workloads-namespace-bookinfo"] == "delete" and ops["workloads-namespace-shop"] == "create"


FIFTY_TEXT = (TASKS / "reviews-50-v3.yaml").read_text()


def _git(repo, *args) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com",
                           *args], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_base_ref_renders_the_base_from_a_temporary_worktree_and_cleans_up(tmp_path):
    """A repository holding this very code, with a stack file committed as all-v1 and
    then moved to 50/50: the base comes from the first commit, rendered in a worktree."""
    from meshplan.diff.compare import diff_states
    from meshplan.diff.states import render_at_ref, state_from_rendered

    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
        ".git", "venv", "__pycache__", ".pytest_cache", ".hypothesis", "Pulumi.*.yaml"))
    stack_file = repo / "Pulumi.ci.yaml"
    stack_file.write_text((TASKS / "all-v1.yaml").read_text())
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    stack_file.write_text(FIFTY_TEXT)
    _git(repo, "commit", "-qam", "fifty-fifty")

    base = render_at_ref("HEAD~1", str(stack_file), "ci", repo=repo)
    diff = diff_states(base, state_from_rendered(render_file(FIFTY, "ci")))
    assert [(c.op, c.name) for c in diff.changes] == [("update", "routing-virtualservice-reviews")]
    assert [(t.subset, t.before, t.after) for t in diff.changed_traffic] == [("v1", 100, 50), ("v3", 0, 50)]
    assert "meshplan-base-" not in _git(repo, "worktree", "list")

    new_stack = repo / "Pulumi.new.yaml"
    new_stack.write_text(FIFTY_TEXT)
    assert render_at_ref("HEAD", str(new_stack), "new", repo=repo).resources == {}


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_an_unknown_base_ref_is_one_line_error(capsys):
    code, _, err = run(capsys, "--stack", "dev", "--base-ref", "no-such-ref-anywhere")
    assert code == 1 and "no such commit in this repository" in err and err.count("\n") == 1


def test_repeated_renders_in_one_process_start_from_a_fresh_root_stack():
    from meshplan.render.engine import render

    first = render(ALL_V1, stack="dev")
    other = render(FIFTY, stack="dev")
    again = render(ALL_V1, stack="dev")
    assert [r.as_json() for r in again.resources] == [r.as_json() for r in first.resources]
    assert len(other.resources) == len(first.resources)
    assert sum(r.type == "pulumi:pulumi:Stack" for r in again.resources) == 1


def test_colour_marks_each_operation_when_asked():
    from meshplan.diff.compare import diff_states
    from meshplan.diff.formats import diff_text
    from meshplan.diff.states import state_from_rendered

    diff = diff_states(state_from_rendered(render_file(ALL_V1, "dev")), state_from_rendered(render_file(FIFTY, "dev")))
    coloured = diff_text(diff, colour=True)
    assert "\033[33m~ update  kubernetes:networking.istio.io/v1:VirtualService" in coloured
    assert "\033[" not in diff_text(diff, colour=False)


def test_command_line_process_flushes_its_output_and_exit_code():
    import sys

    done = subprocess.run([sys.executable, "-m", "meshplan", "diff", "--config", FIFTY, "--base-config", ALL_V1,
                           "--format", "json"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert len(json.loads(done.stdout)["traffic"]) == 2


def test_mermaid_starts_each_rule_at_its_own_gateway_and_labels_gateway_splits():
    """An egress VirtualService bound to [egress gateway, mesh]: the mesh rule starts
    at the service, the gateway rule at the egress Gateway; a split made at the
    ingress gateway is labelled with it, apart from the service's own mesh split."""
    from meshplan.diff.compare import diff_states
    from meshplan.diff.formats import mermaid
    from meshplan.diff.states import State

    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "api", "namespace": "shop"},
          "spec": {"hosts": ["api.example.com"], "gateways": ["egress", "mesh"], "http": [
              {"match": [{"gateways": ["mesh"], "port": 80}],
               "route": [{"destination": {"host": "istio-egressgateway.istio-system.svc.cluster.local"}}]},
              {"match": [{"gateways": ["egress"], "port": 80}],
               "route": [{"destination": {"host": "api.example.com"}}]}]}}
    ingress = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": "front", "namespace": "shop"},
               "spec": {"hosts": ["*"], "gateways": ["web"], "http": [{"route": [
                   {"destination": {"host": "cart", "subset": "v1"}, "weight": 90},
                   {"destination": {"host": "cart", "subset": "v2"}, "weight": 10}]}]}}
    mesh = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"hosts": ["cart"], "http": [{"route": [{"destination": {"host": "cart", "subset": "v1"}}]}]}}
    state = State("s", {}, [vs, ingress, mesh])
    graph = "\n".join(mermaid(diff_states(state, state)))
    nodes = {line.split('"')[1]: line.strip().split("(")[0].split("[")[0].split("{")[0]
             for line in graph.splitlines()[1:] if "--" not in line}
    assert f'{nodes["api"]} -->|"#0 port=80 & gateways=[\'mesh\']: 100%"| {nodes["istio-egressgateway"]}' in graph
    assert f'{nodes["egress"]} -->|"#1 port=80 & gateways=[\'egres…: 100%"| {nodes["api"]}' in graph
    assert f'{nodes["web"]} --> {nodes["cart"]}' in graph
    assert f'{nodes["cart"]} -->|"100%"| {nodes["cart v1"]}' in graph
    assert f'{nodes["cart"]} -->|"via web: 90%"| {nodes["cart v1"]}' in graph
    assert f'{nodes["cart"]} -->|"via web: 10%"| {nodes["cart v2"]}' in graph


def test_stack_secrets_never_appear_in_any_format(capsys, tmp_path):
    # The bms stack file as its user has it after `pulumi config set --secret`, before
    # and after a change that also re-encrypts the password.
    text = (ROOT / "Pulumi.bms.yaml").read_text()
    ciphertext = "v1:c2VjcmV0LW9uZQ==:T25lU2VjcmV0VmFsdWU="
    base, changed = tmp_path / "base" / "Pulumi.bms.yaml", tmp_path / "Pulumi.bms.yaml"
    base.parent.mkdir()
    base.write_text(text + f"  bookinfo-mesh:databasePassword:\n    secure: {ciphertext}\n")
    changed.write_text(base.read_text().replace(ciphertext, "v1:QW5vdGhlclNlY3JldFZhbHVl")
                       .replace("replicas: 1", "replicas: 2"))
    for fmt in ("text", "markdown", "json"):
        code, out, err = run(capsys, "--config", str(changed), "--base-config", str(base), "--format", fmt)
        assert code == 2
        for hidden in (ciphertext, "QW5vdGhlclNlY3JldFZhbHVl", ciphertext[3:]):
            assert hidden not in out + err
    changes = json.loads(run(capsys, "--config", str(changed), "--base-config", str(base),
                             "--format", "json")[1])["changes"]
    assert "workloads-secret-bookinfo-db" not in {c["name"] for c in changes}  # both sides are [secret]


# ------------------------------------------------------------ DestinationRule subsets by name


def reviews_diff(capsys, tmp_stack, base: str, head: str, *options: str):
    """Diff two dev stacks that differ in `services.reviews` only."""
    prefix = "config:\n  bookinfo-mesh:environment: dev\n  bookinfo-mesh:services:\n    reviews:\n"
    return run(capsys, "--config", str(tmp_stack(prefix + head, "Pulumi.head.yaml")),
               "--base-config", str(tmp_stack(prefix + base, "Pulumi.base.yaml")), *options)


def test_destination_rule_subsets_are_diffed_by_name(capsys, tmp_stack):
    code, out, _ = reviews_diff(capsys, tmp_stack, "      versions: [v1, v2]\n      to: v2\n",
                                "      versions: [v2, v3]\n      to: v2\n", "--format", "json")
    assert code == 2
    [rule] = [c for c in json.loads(out)["changes"] if c["name"] == "routing-destinationrule-reviews"]
    assert [(d["op"], d["path"]) for d in rule["diff"]] == [
        ("remove", "spec.subsets[name=v1]"), ("add", "spec.subsets[name=v3]")]
    assert rule["diff"][1]["after"] == {"labels": {"version": "v3"}, "name": "v3"}


def test_a_change_inside_a_subset_is_named_by_its_subset(capsys, tmp_stack):
    policy = "      subsetTrafficPolicy:\n        v3: {loadBalancer: RANDOM}\n"
    code, out, _ = reviews_diff(capsys, tmp_stack, "      versions: [v1, v2, v3]\n      to: v3\n",
                                "      versions: [v2, v3]\n      to: v3\n" + policy)
    assert code == 2
    assert "    remove spec.subsets[name=v1]: " in out
    assert '    add    spec.subsets[name=v3].trafficPolicy: (none) → {"loadBalancer": {"simple": "RANDOM"}}' in out
    assert "subsets[0]" not in out and "subsets[1]" not in out


DESTINATION_RULE = "kubernetes:networking.istio.io/v1:DestinationRule"


def test_reordered_subsets_show_as_their_order_and_unnamed_ones_by_index():
    v1, v2 = {"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}
    [moved] = property_changes(DESTINATION_RULE, {"spec": {"subsets": [v1, v2]}}, {"spec": {"subsets": [v2, v1]}})
    assert (moved.path, moved.before, moved.after) == ("spec.subsets[*].name", ["v1", "v2"], ["v2", "v1"])
    twice = property_changes(DESTINATION_RULE, {"spec": {"subsets": [v1, v1]}}, {"spec": {"subsets": [v2]}})
    assert [c.path for c in twice] == ["spec.subsets[0].name", "spec.subsets[0].labels.version", "spec.subsets[1]"]
    # Other kinds' lists keep their positions.
    assert [c.path for c in property_changes("kubernetes:apps/v1:Deployment", {"spec": {"subsets": [v1]}},
                                             {"spec": {"subsets": [v2]}})][0].startswith("spec.subsets[0]")


def test_markdown_omits_the_traffic_graph_when_no_share_moves(capsys):
    code, out, _ = run(capsys, "--config", str(TASKS / "mirroring.yaml"), "--base-config", ALL_V1,
                       "--format", "markdown")
    assert code == 2 and "| ~ update |" in out
    assert "```mermaid" not in out and "Traffic graph" not in out
    code, out, _ = run(capsys, "--config", FIFTY, "--base-config", ALL_V1, "--format", "markdown")
    assert "#### Traffic graph" in out and "```mermaid" in out

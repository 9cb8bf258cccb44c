"""The docs hold together and do what they say: the README stays a short tour, every
relative link (and its #anchor) resolves, and every offline `meshplan` command the
README and docs/ show runs against the repository's own files with the exit code
the docs promise. A command that cannot run offline (it needs a cluster, a backend,
Prometheus or files of your own) is listed below with the reason, so a new command
in the docs is either run here or explained."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.upstream import manifest, upstream

ARTIFACTS = "upstream/artifacts/"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)

NOT_OFFLINE = {
    # command as written in the docs (comments dropped) → why it is not run here
    "meshplan check app.yaml gateway.yaml": "your own manifest files",
    "meshplan check manifests/ --crds crd-all.gen.yaml": "your own manifests and your Istio release's CRD file",
    "meshplan rollout --stack staging --service reviews --to v2 --steps 25,50,100 --interval 5m --prometheus "
    "http://prometheus.istio-system:9090 [--max-failures 3] [--policy-pack DIR ...] [--dry-run | --rehearse] "
    "[--format json]": "a real rollout: the Pulumi CLI, a backend and Prometheus; its --dry-run and --rehearse "
    "run in tests/test_rollout_cli.py",
    "meshplan rollout --config examples/istio-tasks/reviews-50-v3.yaml --service reviews --to v3 --steps 25,50":
        "a real rollout (the Pulumi CLI); tests/test_rollout_suggestion.py runs the command the diff prints with "
        "--dry-run",
    "meshplan rollout --config Pulumi.canary.yaml --service reviews --to v3 --steps 50,100 --interval 1s "
    "--prometheus http://127.0.0.1:50679 --rehearse": "the rehearsal against the Prometheus server "
    "tests/test_rollout_cli.py starts, which checks this output",
}

REFUSED = {
    # commands the docs show to illustrate a refusal (exit 1), with what the refusal says
    "meshplan diff --config examples/istio-tasks/reviews-50-v3.yaml --base-config examples/istio-tasks/all-v1.yaml "
    "--max-step 25": "error: step guard: VirtualService bookinfo/reviews route '#0 default' moves reviews v3",
}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_the_readme_is_a_short_tour():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == []


def shown_commands() -> list[tuple[str, str]]:
    """(page, command) for every `meshplan` line in a fenced block of the docs,
    continuation lines joined and trailing comments dropped."""
    found = []
    for page in PAGES:
        for block in FENCE.findall(page.read_text(encoding="utf-8")):
            block = block.replace("\\\n", " ")
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if not re.match(r"meshplan (render|diff|check|rollout|rbac)( (--|\S+/|\S+\.ya?ml)| *$)", line):
                    continue
                command = re.sub(r"\s+#.*$", "", line)
                found.append((str(page.relative_to(ROOT)), re.sub(r"\s+", " ", command).strip()))
    return found


def test_the_docs_show_commands():
    assert len(shown_commands()) >= 10


def test_every_command_not_run_here_is_still_shown_and_every_other_one_is_run():
    shown = {command for _, command in shown_commands()}
    assert set(NOT_OFFLINE) - shown == set()  # no stale entry
    assert set(REFUSED) - shown == set()


def artifact(path: str) -> str:
    """A path into upstream/artifacts/ (what `make upstream` fetches) where the tests find
    upstream artifacts: the command skips where it is absent, and fails if the manifest
    pins no such artifact (a typo would otherwise skip for ever)."""
    relative = path.removeprefix(ARTIFACTS).rstrip("/")
    pinned = manifest()["artifacts"]
    assert any(local == relative or local.startswith(relative + "/") for local in pinned), \
        f"{path}: upstream/manifest.json pins no such artifact"
    return str(upstream(relative))


@pytest.mark.parametrize("page,command", [(p, c) for p, c in shown_commands() if c not in NOT_OFFLINE])
def test_every_offline_command_the_docs_show_runs(page, command):
    argv = [artifact(arg) if arg.startswith(ARTIFACTS) else arg for arg in shlex.split(command)[1:]]
    done = subprocess.run([sys.executable, "-m", "meshplan", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr
    if command in REFUSED:
        assert (done.returncode, REFUSED[command] in done.stderr) == (1, True), done.stderr
        return
    expected = (0, 2) if argv[0] == "diff" else (0,)
    assert done.returncode in expected, f"{page}: {command}\n{done.stderr[-2000:]}"


def test_the_tour_changes_staging_and_the_diff_says_what_the_readme_shows(tmp_path):
    """Steps 2 to 4 of the README's tour, on a clone: the weights edited as step 2 says,
    then the diff of step 3, whose first lines and exit code the README shows."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    edit = re.search(r"set reviews to\s+`weights: \{v1: (\d+), v2: (\d+)\}`", readme)
    shown = readme.split("meshplan diff --stack staging --base-ref HEAD\n```\n\n```\n", 1)[1].split("```", 1)[0]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    stack = clone / "Pulumi.staging.yaml"
    text = stack.read_text(encoding="utf-8")
    assert "v1: 80" in text and "v2: 20" in text
    stack.write_text(text.replace("v1: 80", f"v1: {edit[1]}").replace("v2: 20", f"v2: {edit[2]}"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "meshplan", "diff", "--stack", "staging", "--base-ref", "HEAD"],
                          cwd=clone, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stdout.startswith(shown)
    assert "exit" in readme and "`2` changes" in readme


def test_every_key_the_settings_parser_accepts_is_named_in_the_config_docs():
    """The parser's own key tables (`CONFIG_KEYS`) against the pages that describe
    config: a key added to the parser and not to the docs fails here."""
    from model.settings import CONFIG_KEYS

    text = "".join((ROOT / "docs" / page).read_text(encoding="utf-8")
                   for page in ("config.md", "bms.md", "rollout.md", "layers.md"))
    undocumented = [f"{path}.{name}".lstrip(".") for path, names in CONFIG_KEYS.items() for name in names
                    if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)]
    assert undocumented == []

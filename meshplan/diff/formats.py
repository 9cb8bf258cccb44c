"""Printing a `meshplan diff`: text for a terminal, markdown (with a mermaid traffic
graph) for a pull request comment, JSON for machines.

Every name, path and value printed may come from an untrusted file (a stack file
in a pull request, an exported state): in the terminal control characters are
shown escaped; in markdown values sit in code spans fenced longer than any
backtick run inside them, and other text has HTML and markdown specials escaped,
so nothing can close a code span, inject HTML or the comment's own marker."""
from __future__ import annotations

import json
import os
import re
import shlex

from meshplan.diff.compare import describe, shown
from meshplan.render.formats import clip, route_object
from model.errors import printable
from model.names import CLUSTER_DOMAIN
from model.traffic import format_percent

_COLOURS = {"create": "32", "update": "33", "replace": "35", "delete": "31", "add": "32", "remove": "31",
            "change": "33", "error": "31", "warning": "33"}
_SYMBOLS = {"create": "+", "update": "~", "replace": "±", "delete": "-"}


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


def _paint(text: str, key: str | None, colour: bool) -> str:
    text = printable(text)
    return f"\033[{_COLOURS[key]}m{text}\033[0m" if colour and key in _COLOURS else text


def _summary_line(diff) -> str:
    counts = diff.counts()
    parts = [f"{n} to {op}" for op, n in counts.items() if n]
    line = ", ".join(parts) if parts else "no resource changes"
    moved = diff.changed_traffic
    if moved:
        line += f"; traffic: {describe(moved)}"
    if diff.aspects:
        line += "; routes: " + ", ".join(f"{a.virtual_service} {a.change}" for a in diff.aspects)
    if diff.secrets:
        line += "; secrets: " + ", ".join(f"{s['key']} {s['change']}" for s in diff.secrets)
    if diff.install:
        line += f"; install: {len(diff.install)} change{'s' if len(diff.install) != 1 else ''}"
    return line


def by_primaries(rows) -> list[tuple[tuple[str, ...], list]]:
    """Traffic rows grouped by the primaries they apply to, in order of first
    appearance: one group when every primary makes the same change (or one cluster)."""
    groups: dict[tuple[str, ...], list] = {}
    for row in rows:
        groups.setdefault(row.primaries, []).append(row)
    return list(groups.items())


def applies_to(primaries: tuple[str, ...]) -> str:
    return f"applies to primar{'ies' if len(primaries) != 1 else 'y'} {', '.join(primaries)}"


INSTALL_HEADING = "Install (mesh and clusters, before → after)"


def stack_arguments(*, stack: str | None, config: str | None, default: str) -> str:
    """How a printed command names the stack the diff was given: `--config FILE` for
    a file (and `--stack S` when one was named too), else `--stack S`."""
    words = ["--stack", stack] if stack else []
    if config:
        words += ["--config", config]
    return shlex.join(words or ["--stack", default])


def plan_entries(plans, stack_args: str) -> list[tuple[str, str]]:
    """Each weight change as `meshplan rollout` would take it: a summary and the
    command that takes it (or an empty command and why none can)."""
    out = []
    for plan in plans:
        if plan.unavailable:
            out.append((f"{plan.namespace}/{plan.service} → {plan.canary}: no rollout plan: {plan.unavailable}", ""))
            continue
        states = "; ".join(f"{n}) " + ", ".join(f"{v} {w}%" for v, w in state.items())
                           for n, state in enumerate(plan.states, start=1))
        out.append((f"{plan.namespace}/{plan.service} → {plan.canary} in {len(plan.steps)} "
                    f"step{'s' if len(plan.steps) != 1 else ''}: {states}",
                    f"meshplan rollout {stack_args} --service {shlex.quote(plan.service)} "
                    f"--to {shlex.quote(plan.canary)} --steps {','.join(map(str, plan.steps))}"))
    return out


def _plan_terms(plans) -> str:
    limit = plans[0].step_limit
    size = f"steps of at most {limit:g} points" if limit is not None else "one step, as no step limit is set"
    return f"instead of this change, from the base's weights: {size}, gated on metrics"


def diff_text(diff, *, findings=(), colour: bool = False, plans=(), stack_args: str = "") -> str:
    out = [_paint(f"meshplan diff: {diff.base.label} → {diff.proposed.label}", None, colour),
           _paint(_summary_line(diff), None, colour)]
    if diff.changes:
        out.append("")
    for change in diff.changes:
        out.append(_paint(f"{_SYMBOLS[change.op]} {change.op:<7} {change.type}  {change.name}", change.op, colour))
        for prop in change.diff:
            note = "  (forces replacement)" if prop.replaces else ""
            out.append(_paint(f"    {prop.op:<6} {prop.path}: {shown(prop.before)} → {shown(prop.after)}{note}",
                              prop.op, colour))
    if diff.install or diff.install_not_compared:
        out += ["", INSTALL_HEADING]
        out += [_paint(f"  {change}", "change", colour) for change in diff.install]
        if diff.install_not_compared:
            out.append(_paint(f"  not compared: {diff.install_not_compared}", None, colour))
    moved = diff.changed_traffic
    if moved:
        out += ["", "Traffic (effective share per route, before → after)"]
        for primaries, rows in by_primaries(moved):
            if primaries:
                out.append(_paint(f"  {applies_to(primaries)}", None, colour))
            for t in rows:
                out.append(_paint(f"  {route_object(t)}  {clip(t.route, 40)}  {t.destination:<20} "
                                  f"{format_percent(t.before):>5} → {format_percent(t.after):>5}  ({t.shift:+.4g})",
                                  None, colour))
    if diff.aspects:
        out += ["", "Route faults, mirrors, timeouts and retries (before → after)"]
        for a in diff.aspects:
            out.append(_paint(f"  {route_object(a)}  {clip(a.route, 40)}  {a.change}",
                              "add" if a.before is None else "remove" if a.after is None else "change", colour))
    if plans:
        out += ["", f"Rollout plan ({_plan_terms(plans)})"]
        for summary, command in plan_entries(plans, stack_args):
            out += [_paint(f"  {line}", None, colour) for line in (summary, f"  {command}") if line.strip()]
    if findings:
        out += ["", "Findings"] + [_paint(f"  {f}", f.level, colour) for f in findings]
    return "\n".join(out) + "\n"


def diff_json(diff, *, findings=(), plans=(), stack_args: str = "") -> str:
    """The diff's own record (`changes`, `traffic`, and `routeAspects`, `secrets`,
    `refused` when there are any), with a `summary` (counts by op and the summary
    line the text prints), the `findings` about the proposed side and the
    `rolloutPlan` that would take each weight change in steps."""
    commands = [command for _, command in plan_entries(plans, stack_args)]
    document = {"summary": {"counts": diff.counts(), "line": _summary_line(diff)}, **diff.as_json(),
                "findings": [f.as_json() for f in findings],
                "rolloutPlan": [_plan_json(plan, command) for plan, command in zip(plans, commands)]}
    return json.dumps(document, indent=2, default=str) + "\n"


def _plan_json(plan, command: str) -> dict:
    shown = {"namespace": plan.namespace, "service": plan.service, "canary": plan.canary,
             "maxStep": plan.step_limit}
    if plan.unavailable:
        return {**shown, "unavailable": plan.unavailable}
    return {**shown, "steps": [{"step": n, "canaryPercent": percent, "weights": dict(state)}
                               for n, (percent, state) in enumerate(zip(plan.steps, plan.states), start=1)],
            "command": command}


def _cell(text: str) -> str:
    """Plain text in a table cell or a line: HTML and markdown specials escaped."""
    text = printable(str(text).replace("\n", " "))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]~|])", r"\\\1", text)


def code_span(text: str) -> str:
    """A code span holding `text` verbatim, whatever backticks it holds."""
    text = printable(str(text).replace("\n", " ")).replace("|", "\\|")
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def refused_markdown(lines) -> str:
    return "".join(f"> **Refused** — {_cell(line)}\n" for line in lines)


def diff_markdown(diff, *, findings=(), title: str = "meshplan diff", plans=(), stack_args: str = "") -> str:
    out = [f"### {title}", ""]
    if diff.refused:  # what must stop a merge comes before what the change is
        out += [refused_markdown(diff.refused).rstrip("\n"), ""]
    out += [f"**{_cell(_summary_line(diff))}**", "",
            f"Base {code_span(diff.base.label)} → proposed {code_span(diff.proposed.label)}", ""]
    if diff.changes:
        out += ["| Op | Type | Name | Changes |", "|---|---|---|---|"]
        for change in diff.changes:
            props = "<br>".join(
                f"{code_span(p.path)}: {code_span(shown(p.before))} → {code_span(shown(p.after))}"
                + (" (forces replacement)" if p.replaces else "")
                for p in change.diff[:12])
            if len(change.diff) > 12:
                props += f"<br>… {len(change.diff) - 12} more"
            out.append(f"| {_SYMBOLS[change.op]} {change.op} | {code_span(change.type)} | {code_span(change.name)} | {props} |")
        out.append("")
    if diff.install or diff.install_not_compared:
        out += ["#### Install (mesh and clusters)", ""]
        out += [f"- {code_span(str(change))}" for change in diff.install]
        if diff.install_not_compared:
            out.append(f"- not compared: {_cell(diff.install_not_compared)}")
        out.append("")
    moved = diff.changed_traffic
    if moved:
        out += ["#### Traffic", ""]
        for primaries, rows in by_primaries(moved):
            if primaries:
                out += [_cell(applies_to(primaries)[0].upper() + applies_to(primaries)[1:]) + ":", ""]
            out += [f"| {_route_column(rows)} | Route | Destination | Before | After | Change |",
                    "|---|---|---|---:|---:|---:|"]
            for t in rows:
                out.append(f"| {code_span(route_object(t))} | {_cell(t.route)} | {_cell(t.destination)} | "
                           f"{format_percent(t.before)} | {format_percent(t.after)} | {t.shift:+.4g} |")
            out.append("")
    if diff.aspects:
        out += ["#### Faults, mirrors, timeouts and retries", "",
                f"| {_route_column(diff.aspects)} | Route | Before | After |", "|---|---|---|---|"]
        for a in diff.aspects:
            out.append(f"| {code_span(route_object(a))} | {_cell(a.route)} | "
                       f"{_cell(a.before or '(none)')} | {_cell(a.after or '(none)')} |")
        out.append("")
    if moved:  # an unchanged graph tells a reviewer nothing
        out += ["#### Traffic graph", "", "```mermaid", *mermaid(diff), "```", ""]
    if plans:
        terms = _plan_terms(plans)
        out += ["#### Rollout plan", "", _cell(terms[0].upper() + terms[1:] + ":"), ""]
        out += [f"- {_cell(summary)}" + (f"<br>{code_span(command)}" if command else "")
                for summary, command in plan_entries(plans, stack_args)]
        out.append("")
    if findings:
        out += ["#### Findings", ""] + [f"- {code_span(str(f))}" for f in findings] + [""]
    return "\n".join(out)


def _route_column(rows) -> str:
    """The route objects' column: `VirtualService` while every row is one's."""
    return "VirtualService" if all(r.kind == "VirtualService" for r in rows) else "Route"


def mermaid(diff) -> list[str]:
    """The request path as a flowchart: gateway → service → the services it calls,
    and each service → its versions. Edges into a destination carry its share after
    the change, or `before → after` where it moves; a destination left with 0% is
    dashed. A rule starts at the gateways it is bound to (its match's `gateways`,
    else its VirtualService's; an HTTPRoute's Gateway parents); a mesh rule starts at
    the service its VirtualService is for (an HTTPRoute's parent Service). A version
    split made at a gateway is labelled `via <gateway>`.

    Who calls whom is the application's (`Application.calls`) and comes from the
    proposed side only: that side is always a stack rendered here, which holds the
    application, while a base from `--base-ref` (render JSON) or `--against-state`
    (a Pulumi state export) holds objects alone. Shares come from both sides."""
    lines, edges, ids = ["flowchart LR"], [], {}

    def node(key: str, label: str, shape: str) -> str:
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            text = mermaid_text(label)
            body = {"box": f'["{text}"]', "round": f'("{text}")', "gateway": f'{{{{"{text}"}}}}'}[shape]
            lines.append(f"  {ids[key]}{body}")
        return ids[key]

    rules = {**_rule_sources(diff.base.objects), **_rule_sources(diff.proposed.objects)}
    routes_per_vs: dict[tuple[str, str], set[str]] = {}
    for t in diff.traffic:
        routes_per_vs.setdefault((t.namespace, t.virtual_service), set()).add(t.route)
    for t in diff.traffic:
        share = format_percent(t.after) if not t.changed else f"{format_percent(t.before)} → {format_percent(t.after)}"
        if len(routes_per_vs[(t.namespace, t.virtual_service)]) > 1:
            share = f"{clip(t.route, 30)}: {share}"
        arrow = "-.->" if not t.after else "-->"
        service_ns, service = _service_of(t.host, t.namespace)
        target = node(f"svc:{service_ns}/{service}", service, "round")
        sources, own_host = rules.get((t.namespace, t.virtual_service, t.route), (["mesh"], t.virtual_service))
        own_ns, own_service = _service_of(own_host, t.namespace)
        for source in sources:
            if source == "mesh":
                if (own_ns, own_service) == (service_ns, service):
                    continue  # the service's own rule: its versions hang off its node
                origin = node(f"svc:{own_ns}/{own_service}", own_service, "round")
            else:
                origin = node(f"gw:{source}", source.split("/")[-1], "gateway")
            edges.append(f"  {origin} --> {target}" if t.subset else f'  {origin} {arrow}|"{mermaid_text(share)}"| {target}')
        if t.subset:
            # A gateway's own split applies to requests through that gateway only.
            via = [g.split("/")[-1] for g in sources if g != "mesh"]
            label = f"via {', '.join(via)}: {share}" if via else share
            version = node(f"ver:{service_ns}/{service}/{t.subset}", f"{service} {t.subset}", "box")
            edges.append(f'  {target} {arrow}|"{mermaid_text(label)}"| {version}')
    for (caller_ns, caller), (callee_ns, callee) in diff.proposed.calls:
        edges.append(f"  {node(f'svc:{caller_ns}/{caller}', caller, 'round')} --> "
                     f"{node(f'svc:{callee_ns}/{callee}', callee, 'round')}")
    return lines + list(dict.fromkeys(edges))


def _rule_sources(objects) -> dict[tuple[str, str, str], tuple[list[str], str]]:
    """(namespace, VirtualService, route label) → (the gateways the rule is bound
    to, `mesh` included, as `ns/name`; the VirtualService's first host)."""
    from model.traffic import hidden_by_secret, route_label

    found = {}
    for obj in objects:
        if obj.get("kind") == "HTTPRoute":
            found.update(_http_route_sources(obj))
        if obj.get("kind") != "VirtualService":
            continue
        metadata, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        if hidden_by_secret(metadata) or hidden_by_secret(spec):
            continue  # a secret hides where its rules are bound: drawn as mesh rules
        ns = metadata.get("namespace", "")
        qualify = (lambda g: g if g == "mesh" or "/" in g else f"{ns}/{g}")
        bound = [qualify(g) for g in spec.get("gateways") or ["mesh"]]
        own = str((spec.get("hosts") or [metadata.get("name", "")])[0])
        for index, rule in enumerate(spec.get("http") or []):
            matched = [g for m in rule.get("match") or [] for g in m.get("gateways") or []]
            every_match_bound = rule.get("match") and all(m.get("gateways") for m in rule["match"])
            gateways = list(dict.fromkeys(qualify(g) for g in matched)) if every_match_bound else bound
            found[(ns, metadata.get("name", ""), route_label(index, rule))] = (gateways, own)
    return found


def _service_of(host: str, namespace: str) -> tuple[str, str]:
    """(namespace, short name) of the service a host names: a cluster-local FQDN
    names its namespace, any other host is taken in `namespace`, the one of the
    VirtualService naming it, as Istio takes a short name."""
    parts = host.split(".")
    if host.endswith(f".svc.{CLUSTER_DOMAIN}") and len(parts) > 2:
        return parts[1], parts[0]
    return namespace, parts[0]


def _http_route_sources(route) -> dict[tuple[str, str, str], tuple[list[str], str]]:
    """`_rule_sources` for one HTTPRoute: every rule starts at its Gateway parents and,
    attached to a Service (GAMMA), at that service."""
    from model.httproute_traffic import ordered_rules, parents, rule_label
    from model.traffic import hidden_by_secret, object_key

    if hidden_by_secret(route.get("metadata")) or hidden_by_secret(route.get("spec")):
        return {}
    _, namespace, name = object_key(route)
    services, gateways = parents(route)
    sources = [*gateways, *(["mesh"] if services or not gateways else [])]
    own = services[0][1].split(".")[0] if services else name
    return {(namespace, name, rule_label(index, rule)): (sources, own) for index, rule, _ in ordered_rules(route)}


def mermaid_text(text: str) -> str:
    """Label text safe inside mermaid's `"..."` and `|...|`, and inside the
    markdown fence around the graph (no backtick, no HTML)."""
    text = printable(text)
    for char, code in (('"', "#quot;"), ("|", "#124;"), ("`", "#96;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text

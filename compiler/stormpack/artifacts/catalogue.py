"""The rule catalogue: ``build/catalogue.md`` and ``build/catalogue.html``.

One entry per rule: title, level, what it detects, log sources, ATT&CK, false positives, tenant
lists, and for every target whether an artifact was built (or why not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ..compiler.registry import ARTIFACT_TARGETS
from ..taxonomy import load_taxonomy
from .model import RuleMeta

TARGETS = ARTIFACT_TARGETS  # one column per product with deployable artifacts


@dataclass(frozen=True)
class Entry:
    meta: RuleMeta
    targets: Mapping[str, str | None]  # target -> None (built) or the reason it was not
    lists: tuple[str, ...]  # tenant lists the rule reads (watchlist / lookup, or inlined)
    disabled_by: tuple[str, ...] = ()  # unfilled tenant lists that keep the built rule disabled

    def mark(self, target: str) -> str:
        """✓ scheduled rule built, H hunting query built, – not built."""
        if self.targets.get(target, "not compiled") is not None:
            return "–"
        return "H" if self.meta.is_hunting else "✓"

    def built_as(self, target: str) -> str:
        reason = self.targets.get(target, "not compiled")
        if reason is not None:
            return f"not built: {reason}"
        if self.meta.is_hunting:
            return f"hunting query, not a scheduled rule: {self.meta.hunting_reason()}"
        if self.disabled_by:
            return "built, disabled until " + ", ".join(self.disabled_by) + " hold tenant values"
        return "built"


def _logsource_titles(meta: RuleMeta) -> list[str]:
    tax = load_taxonomy()
    return [f"{key} ({tax.logsources[key].title})" if key in tax.logsources else key
            for key in meta.logsources]


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(entries: Sequence[Entry]) -> str:
    lines = [
        "# stormpack rule catalogue",
        "",
        f"{len(entries)} rules. Targets: **S** Sentinel analytics rule, **D** Defender XDR custom "
        "detection, **P** Splunk saved search (✓ built, H built as a hunting query because the rule "
        "matches only a past period, – not applicable, see the rule's section).",
        "",
        "| Rule | Level | Log sources | ATT&CK | S | D | P |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        m = e.meta
        marks = [e.mark(t) for t in TARGETS]
        attack = ", ".join(m.attack.techniques) or "–"
        lines.append(
            f"| [{_md_cell(m.title)}](#{m.stem}) | {m.level} | {', '.join(m.logsources)} | {attack} | "
            + " | ".join(marks) + " |"
        )
    for e in entries:
        m = e.meta
        lines += [
            "",
            f'<a id="{m.stem}"></a>',
            f"## {m.title}",
            "",
            f"- **Id**: `{m.id}` · **Level**: {m.level} · **Status**: {m.status or '–'} · "
            f"**File**: `{m.path.as_posix()}`" + (" · **Correlation**" if m.is_correlation else ""),
            f"- **Log sources**: {'; '.join(_logsource_titles(m))}",
            f"- **ATT&CK**: tactics {', '.join(m.attack.tactics) or '–'}; techniques "
            f"{', '.join(m.attack.techniques) or '–'}",
        ]
        if e.lists:
            lines.append(f"- **Tenant lists**: {', '.join(f'`{n}`' for n in e.lists)}")
        for t in TARGETS:
            lines.append(f"- **{t}**: {_md_cell(e.built_as(t))}")
        lines += ["", "**What it detects.** " + " ".join(m.description.split()), ""]
        if m.falsepositives:
            lines.append("**False positives.**")
            lines += [f"- {' '.join(fp.split())}" for fp in m.falsepositives]
        if m.references:
            lines += ["", "**References.**"]
            lines += [f"- <{r}>" for r in m.references]
    return "\n".join(lines) + "\n"


_HTML = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>stormpack rule catalogue</title>
<style>
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.4}
table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.lvl-critical,.lvl-high{color:#a00}.lvl-medium{color:#a60}.no{color:#888}
section{border-top:1px solid #ddd;margin-top:1.5rem}code{background:#f6f6f6;padding:0 .2rem}
</style></head><body>
<h1>stormpack rule catalogue</h1>
<p>{{ entries|length }} rules.</p>
<table><thead><tr><th>Rule</th><th>Level</th><th>Log sources</th><th>ATT&amp;CK</th>
{% for t in targets %}<th>{{ t }}</th>{% endfor %}</tr></thead><tbody>
{% for e in entries %}<tr><td><a href="#{{ e.meta.stem }}">{{ e.meta.title }}</a></td>
<td class="lvl-{{ e.meta.level }}">{{ e.meta.level }}</td>
<td>{{ e.meta.logsources|join(", ") }}</td>
<td>{{ e.meta.attack.techniques|join(", ") or "–" }}</td>
{% for t in targets %}{% set r = e.targets.get(t, "not compiled") %}
<td{% if r is not none %} class="no" title="{{ r }}"{% endif %}>{{ e.mark(t) }}</td>
{% endfor %}</tr>
{% endfor %}</tbody></table>
{% for e in entries %}<section id="{{ e.meta.stem }}"><h2>{{ e.meta.title }}</h2>
<p><b>Id</b> <code>{{ e.meta.id }}</code> · <b>Level</b> {{ e.meta.level }}
 · <b>File</b> <code>{{ e.meta.path.as_posix() }}</code>
{% if e.meta.is_correlation %} · <b>Correlation</b>{% endif %}</p>
<p><b>Log sources</b>: {{ logsources(e.meta)|join("; ") }}</p>
<p><b>ATT&amp;CK</b>: tactics {{ e.meta.attack.tactics|join(", ") or "–" }};
 techniques {{ e.meta.attack.techniques|join(", ") or "–" }}</p>
{% if e.lists %}<p><b>Tenant lists</b>:
{% for n in e.lists %}<code>{{ n }}</code>{% if not loop.last %}, {% endif %}{% endfor %}</p>{% endif %}
<ul>{% for t in targets %}
<li><b>{{ t }}</b>: {{ e.built_as(t) }}</li>{% endfor %}</ul>
<p><b>What it detects.</b> {{ e.meta.description }}</p>
{% if e.meta.falsepositives %}<p><b>False positives.</b></p>
<ul>{% for fp in e.meta.falsepositives %}<li>{{ fp }}</li>{% endfor %}</ul>{% endif %}
{% if e.meta.references %}<p><b>References.</b></p>
<ul>{% for r in e.meta.references %}<li><a href="{{ r }}">{{ r }}</a></li>{% endfor %}</ul>{% endif %}
</section>
{% endfor %}</body></html>
"""
)


def render_html(entries: Sequence[Entry]) -> str:
    return _HTML.render(entries=entries, targets=TARGETS, logsources=_logsource_titles)


def write(entries: Sequence[Entry], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "catalogue.md"
    md.write_text(render_markdown(entries), encoding="utf-8")
    html = out_dir / "catalogue.html"
    html.write_text(render_html(entries), encoding="utf-8")
    return [md, html]

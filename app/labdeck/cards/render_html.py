"""The card as one self-contained html file: embedded CSS (``resources/cards/card.css``) and
the metric plots as SVG images in data: URIs. No scripts, no external links: it opens offline.

The PDF is printed from this same html (``labdeck.ui.card_pdf``), so both say the same.
"""

from __future__ import annotations

import html
import re

from labdeck.cards import layout, svg, templates
from labdeck.cards.facts import CardFacts
from labdeck.cards.sections import BY_KEY, HUMAN_SECTIONS, MISSING

TEMPLATE, CSS = "card.html", "card.css"
_BULLET = re.compile(r"^\s*[-*]\s+")


def text_to_html(text: str) -> str:
    """People's text: paragraphs split by blank lines, '- ' lines as lists; everything escaped."""
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = para.splitlines()
        if lines and all(_BULLET.match(x) for x in lines):
            out.append("<ul>" + "".join(f"<li>{html.escape(_BULLET.sub('', x))}</li>" for x in lines) + "</ul>")
        else:
            out.append("<p>" + "<br>".join(html.escape(x) for x in lines) + "</p>")
    return "\n".join(out)


def _part(p: layout.Part) -> str:
    if isinstance(p, layout.Note):
        return f'<p class="note">{html.escape(p.text)}</p>'
    if isinstance(p, layout.Fields):
        return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                                   for k, v in p.items) + "</table>"
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in p.headers) + "</tr>"
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in p.rows)
    return f"<table>{head}{rows}</table>"


def human(facts: CardFacts, key: str) -> str:
    text = facts.sections.get(key, "").strip()
    if text:
        return text_to_html(text)
    return f'<p class="missing"><b>{MISSING}.</b> {html.escape(BY_KEY[key].prompt)}</p>'


def plots(facts: CardFacts) -> list[tuple[str, str]]:
    """(title, svg) of every plot the card shows: curves of overall metrics, then bars per sliced metric."""
    out = [(c.metric, svg.line_plot(c.metric, c.steps, c.values)) for c in facts.curves]
    for metric in sorted({m.metric for m in facts.sliced}):
        ms = [m for m in facts.sliced if m.metric == metric]
        out.append((f"{metric} by slice", svg.bar_plot(f"{metric} by slice", [m.slice for m in ms],
                                                          [m.value for m in ms])))
    return out


def render(facts: CardFacts, card_hash: str = "") -> str:
    blocks = {k: "\n".join(_part(p) for p in parts) for k, parts in layout.fact_blocks(facts).items()}
    humans = {s.key: human(facts, s.key) for s in HUMAN_SECTIONS}
    images = "\n".join(f'<img alt="{html.escape(title)}" title="{html.escape(title)}" src="{svg.data_uri(image)}">'
                       for title, image in plots(facts))
    return templates.fill(TEMPLATE, {
        "css": templates.read(CSS), "name": html.escape(facts.name), "version": str(facts.version),
        "card_hash": html.escape(card_hash or "-"), "plots": images, **blocks, **humans,
    })

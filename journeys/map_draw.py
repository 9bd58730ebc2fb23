"""Drawing the journey map: Graphviz DOT (and through it SVG and PNG), and Mermaid.

Left to right, a box per stage with its title and what happens there (a coloured badge
per channel), the ways between stages as labelled arrows (events solid, time dashed,
"then" bold, goal and exits dotted from "any stage"), and a legend of what the map
uses. With counts, a stage shows its customers now and ever entered, and an arrow the
customers who took it (and their share of the stage's entrants).

SVG and PNG come from Graphviz's `dot` (the distribution's `graphviz` package) through
the `graphviz` library: offline, no browser and no network.
"""

from __future__ import annotations

import textwrap
from html import escape
from itertools import pairwise

import graphviz

from .errors import JourneyflowError
from .journey_map import ANY, END, START, Channel, JourneyMap, MapEdge, MapNode

# Badge colours: white text on each meets WCAG AA (contrast >= 4.5:1).
CHANNEL_COLOURS: dict[Channel, str] = {
    "email": "#0b5cad",
    "sms": "#1a7f37",
    "webhook": "#57606a",
    "attribute": "#8250df",
    "code": "#9a3d00",
}
_BADGES: dict[str, dict[Channel, str]] = {
    "en": {
        "email": "EMAIL",
        "sms": "SMS",
        "webhook": "WEBHOOK",
        "attribute": "DATA",
        "code": "CODE",
    },
    "de": {
        "email": "E-MAIL",
        "sms": "SMS",
        "webhook": "WEBHOOK",
        "attribute": "DATEN",
        "code": "CODE",
    },
}
_EDGE_STYLE = {
    "event": 'color="#24292f" fontcolor="#24292f"',
    "timer": 'color="#6639ba" fontcolor="#6639ba" style=dashed',
    "move": 'color="#24292f" fontcolor="#24292f" penwidth=2.2',
    "end": 'color="#a40e26" fontcolor="#a40e26" style=dotted',
}
FORMATS = ("mermaid", "dot", "svg", "png")
ROW = 3  # stages per lane in a long journey
_WRAP = 34
_WRAP_EDGE = 22


class DrawingError(JourneyflowError):
    """The map cannot be drawn here (Graphviz's `dot` is missing or failed)."""


def _lines(text: str, width: int = _WRAP) -> str:
    return "<BR/>".join(escape(line) for line in textwrap.wrap(text, width) or [""])


def _badge(map_: JourneyMap, channel: Channel) -> str:
    names = _BADGES.get(map_.words.language, _BADGES["en"])
    return (
        f'<TD BGCOLOR="{CHANNEL_COLOURS[channel]}" VALIGN="TOP"><FONT COLOR="white" '
        f'POINT-SIZE="9"><B>{names[channel]}</B></FONT></TD>'
    )


def _stage_label(map_: JourneyMap, node: MapNode) -> str:
    rows = [f'<TR><TD COLSPAN="2" ALIGN="LEFT"><B>{_lines(node.title)}</B></TD></TR>']
    if node.now is not None:
        counts = (
            f"{map_.words.say('now', n=node.now)} · {map_.words.say('entered', n=node.entered)}"
        )
        rows.append(
            f'<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT COLOR="#0a3069" POINT-SIZE="10">'
            f"{escape(counts)}</FONT></TD></TR>"
        )
    for action in node.actions:
        rows.append(
            f"<TR>{_badge(map_, action.channel)}"
            f'<TD ALIGN="LEFT" BALIGN="LEFT">{_lines(action.text)}</TD></TR>'
        )
    border = 'COLOR="#1a7f37"' if node.kind == "final" else 'COLOR="#57606a"'
    return (
        f'<<TABLE BORDER="1" {border} CELLBORDER="0" CELLSPACING="2" CELLPADDING="4" '
        f'BGCOLOR="{"#dafbe1" if node.kind == "final" else "#ffffff"}" STYLE="ROUNDED">'
        + "".join(rows)
        + "</TABLE>>"
    )


def _edge_label(edge: MapEdge) -> str:
    # Narrow: a label stands between two boxes of a lane and widens it.
    lines = [_lines(label, _WRAP_EDGE) for label in edge.labels]
    if edge.moved is not None:
        share = f" ({edge.share:.0%})" if edge.share is not None else ""
        lines.append(f'<FONT COLOR="#0a3069"><B>{edge.moved}{share}</B></FONT>')
    return "<" + "<BR/>".join(lines) + ">"


def _rows(map_: JourneyMap) -> list[list[str]]:
    """Stages in reading order, a row at a time: a long journey in lanes that fit a screen."""
    stages = [n.key for n in map_.nodes if n.kind in ("stage", "final")]
    lanes = -(-len(stages) // ROW)
    per_row = -(-len(stages) // lanes)
    rows = [stages[i : i + per_row] for i in range(0, len(stages), per_row)]
    keys = {n.key for n in map_.nodes}
    if START in keys:
        rows[0].insert(0, START)
    ends = [k for k in (ANY, END) if k in keys]
    if ends and len(rows) > 1:
        rows.append(ends)  # "from any stage" gets a lane of its own, below
    else:
        rows[-1] += ends
    return rows


def to_dot(map_: JourneyMap) -> str:
    """The map as Graphviz DOT source."""
    rows = _rows(map_)
    # One row reads left to right as it is; lanes are rows of a top-down graph, each
    # kept in order by invisible edges.
    direction = "LR" if len(rows) == 1 else "TB"
    out = [
        "digraph journey {",
        f'  graph [rankdir={direction} fontname="DejaVu Sans" fontsize=16 labelloc=t '
        "nodesep=0.5 ranksep=0.6 newrank=true "
        f"label=<<B>{escape(map_.title)}</B> (v{map_.version})>];",
        '  node [fontname="DejaVu Sans" fontsize=11 shape=plain];',
        '  edge [fontname="DejaVu Sans" fontsize=10 arrowsize=0.8];',
    ]
    for node in map_.nodes:
        if node.kind in ("stage", "final"):
            out.append(f'  "{node.key}" [label={_stage_label(map_, node)}];')
        elif node.kind == "any":
            out.append(
                f'  "{ANY}" [shape=hexagon style="dashed" color="#57606a" margin="0.1,0.05" '
                f'label="{escape(node.title)}"];'
            )
        else:
            fill = "#24292f" if node.key == START else "#a40e26"
            out.append(
                f'  "{node.key}" [shape=circle style=filled fillcolor="{fill}" fontcolor=white '
                f'fontsize=10 width=0.6 fixedsize=true label="{escape(node.title)}"];'
            )
    for edge in map_.edges:
        out.append(
            f'  "{edge.source}" -> "{edge.target}" [label={_edge_label(edge)} '
            f"{_EDGE_STYLE[edge.kind]}];"
        )
    if len(rows) > 1:
        for row in rows:
            names = " ".join(f'"{k}"' for k in row)
            out.append(f"  {{ rank=same; {names} }}")
            out += [f'  "{a}" -> "{b}" [style=invis weight=20];' for a, b in pairwise(row)]
        # The lanes start one below the other, and the legend comes last.
        starts = [row[0] for row in rows] + ["__legend__"]
        out += [f'  "{a}" -> "{b}" [style=invis weight=50];' for a, b in pairwise(starts)]
        out += [f'  "{k}" [group=lanes];' for k in starts]
    out += _legend(map_)
    out.append("}")
    return "\n".join(out) + "\n"


def _legend(map_: JourneyMap) -> list[str]:
    words = map_.words
    rows = "".join(f"<TR>{_badge(map_, c)}<TD></TD></TR>" for c in map_.channels)
    kinds = sorted({e.kind for e in map_.edges}, key=list(_EDGE_STYLE).index)
    samples = {"event": "→ event", "timer": "⇢ time", "move": "➞ then", "end": "⋯ goal / exit"}
    if words.language == "de":
        samples = {
            "event": "→ Ereignis",
            "timer": "⇢ Zeit",
            "move": "➞ dann",
            "end": "⋯ Ziel / Ausstieg",
        }
    rows += "".join(
        f'<TR><TD COLSPAN="2" ALIGN="LEFT">{escape(samples[k])}</TD></TR>' for k in kinds
    )
    return [
        "  subgraph cluster_legend { label=<<B>" + escape(words["legend"]) + "</B>>; "
        'fontsize=11 color="#d0d7de"; style=rounded;',
        f'    "__legend__" [label=<<TABLE BORDER="0" CELLSPACING="2">{rows}</TABLE>>];',
        "  }",
    ]


def render(map_: JourneyMap, fmt: str) -> bytes:
    """The map in `fmt` (one of FORMATS) as bytes."""
    if fmt == "mermaid":
        return to_mermaid(map_).encode("utf-8")
    source = to_dot(map_)
    if fmt == "dot":
        return source.encode("utf-8")
    try:
        drawn: bytes = graphviz.Source(source).pipe(format=fmt, quiet=True)
        return drawn
    except graphviz.ExecutableNotFound:
        raise DrawingError(
            "drawing SVG or PNG needs Graphviz's `dot`: install the `graphviz` package of "
            "your system (apt install graphviz, brew install graphviz), or use --format "
            "mermaid or dot"
        ) from None
    except graphviz.CalledProcessError as exc:
        raise DrawingError(f"Graphviz could not draw the map: {exc.stderr!r}") from None


def _mermaid_text(text: str) -> str:
    # Mermaid labels are in double quotes; it has its own escape for them.
    return text.replace('"', "#quot;")


def to_mermaid(map_: JourneyMap) -> str:
    """The map as a Mermaid `flowchart LR` (for Markdown that renders Mermaid)."""
    out = ["---", f"title: {_mermaid_text(map_.title)} (v{map_.version})", "---"]
    out.append("flowchart LR")
    for node in map_.nodes:
        if node.kind in ("start", "end"):
            out.append(f'    {node.key}(("{_mermaid_text(node.title)}"))')
        elif node.kind == "any":
            out.append(f'    {node.key}{{{{"{_mermaid_text(node.title)}"}}}}')
        else:
            lines = [f"<b>{node.title}</b>"]
            if node.now is not None:
                lines.append(
                    f"{map_.words.say('now', n=node.now)} · "
                    f"{map_.words.say('entered', n=node.entered)}"
                )
            lines += [f"• {a.channel}: {a.text}" for a in node.actions]
            shape = ("([", "])") if node.kind == "final" else ("[", "]")
            label = _mermaid_text("<br/>".join(lines))
            out.append(f'    {node.key}{shape[0]}"{label}"{shape[1]}')
    arrows = {"event": "-->", "timer": "-.->", "move": "==>", "end": "-.-"}
    for edge in map_.edges:
        label = "<br/>".join(edge.labels)
        if edge.moved is not None:
            share = f" ({edge.share:.0%})" if edge.share is not None else ""
            label += f"<br/><b>{edge.moved}{share}</b>"
        out.append(f'    {edge.source} {arrows[edge.kind]}|"{_mermaid_text(label)}"| {edge.target}')
    return "\n".join(out) + "\n"

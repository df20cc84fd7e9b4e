"""A flame graph drawn by espia: one SVG file, opened in any browser.

Each frame is a box as wide as its share of the samples, its callers below
it (the root at the bottom).  Hovering a frame shows its name, samples and
share in the line at the bottom; "Search" (or ``file.svg#search=REGEX``)
colours the frames whose name matches and shows the share they cover;
"Reset" clears it.

Frame names are hostile strings (symbols of traced programs, command and
container names): each is XML-escaped where it is written, and the script
reads names only from the document (a ``data-name`` attribute), never from
generated code, so no name can reach markup or script.
"""

from __future__ import annotations

import html
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

WIDTH = 1200
FRAME_HEIGHT = 16
PAD_TOP = 36
PAD_BOTTOM = 30
SIDE = 10
FONT_SIZE = 12
CHAR_WIDTH = FONT_SIZE * 0.59
MIN_WIDTH = 0.1  # narrower boxes are left out (they would not show)
SEARCH_COLOR = "rgb(230,0,230)"
KERNEL_MARK = "_[k]"
# Characters XML 1.0 cannot hold at all, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class _Node:
    name: str
    samples: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(stacks: Mapping[str, int]) -> _Node:
    root = _Node("all")
    for line, count in stacks.items():
        root.samples += count
        node = root
        for frame in line.split(";"):
            node = node.children.setdefault(frame, _Node(frame))
            node.samples += count
    return root


def _depth(node: _Node) -> int:
    return 1 + max((_depth(child) for child in node.children.values()), default=0)


def _color(name: str, depth: int) -> str:
    """Warm for user frames, blue-green for the kernel's, grey for the owners (comm...).

    Derived from the name (crc32, not Python's salted hash): a frame keeps its
    colour from one graph to the next."""
    mix = zlib.crc32(name.encode("utf-8", "surrogatepass"))
    a, b = (mix & 0xFF) / 255, ((mix >> 8) & 0xFF) / 255
    if name.endswith(KERNEL_MARK):
        return f"rgb({int(50 + 60 * a)},{int(160 + 60 * b)},{int(170 + 50 * a)})"
    if depth == 0:
        return "rgb(200,200,200)"
    return f"rgb({int(205 + 50 * a)},{int(80 + 150 * b)},{int(40 * a)})"


def _text(value: str) -> str:
    """`value` safe as XML text or a quoted attribute."""
    return html.escape(_NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", value), quote=True)


def _label(name: str, width: float) -> str:
    fits = int((width - 6) / CHAR_WIDTH)
    if fits < 3:
        return ""
    return name if len(name) <= fits else name[: fits - 2] + ".."


def render(stacks: Mapping[str, int], title: str = "profile") -> str:
    """The SVG of `stacks` ({folded stack: samples}, as espia.output.stacks makes them)."""
    root = _tree(stacks)
    total = root.samples
    depth = _depth(root)
    height = PAD_TOP + depth * FRAME_HEIGHT + PAD_BOTTOM
    scale = (WIDTH - 2 * SIDE) / total if total else 0.0
    boxes: list[str] = []

    def draw(node: _Node, level: int, offset: int) -> None:
        width = node.samples * scale
        if width < MIN_WIDTH:
            return
        x = SIDE + offset * scale
        y = height - PAD_BOTTOM - (level + 1) * FRAME_HEIGHT
        share = 100 * node.samples / total
        name = _text(node.name)
        boxes.append(
            f'<g class="f" data-name="{name}" data-o="{offset}" data-n="{node.samples}">'
            f"<title>{name} ({node.samples} samples, {share:.2f}%)</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{FRAME_HEIGHT - 1}" '
            f'fill="{_color(node.name, level)}" rx="2"/>'
            f'<text x="{x + 3:.1f}" y="{y + FRAME_HEIGHT - 4}">{_text(_label(node.name, width))}'
            "</text></g>"
        )
        child_offset = offset
        for child in sorted(node.children.values(), key=lambda c: c.name):
            draw(child, level + 1, child_offset)
            child_offset += child.samples

    if total:
        draw(root, 0, 0)
    heading = _text(f"{title}: {total} samples")
    return _TEMPLATE.format(
        width=WIDTH,
        height=height,
        total=total,
        heading=heading,
        middle=WIDTH // 2,
        right=WIDTH - SIDE,
        bottom=height - 10,
        font=FONT_SIZE,
        search=SEARCH_COLOR,
        boxes="\n".join(boxes),
    )


_TEMPLATE = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"
 viewBox="0 0 {width} {height}" data-total="{total}" font-family="Verdana, sans-serif"
 font-size="{font}">
<style>
 .f text {{ pointer-events: none; fill: rgb(0,0,0); }}
 .f:hover rect {{ stroke: rgb(0,0,0); stroke-width: 0.5; cursor: pointer; }}
 .button {{ cursor: pointer; fill: rgb(0,0,160); }}
</style>
<rect x="0" y="0" width="{width}" height="{height}" fill="rgb(248,248,248)"/>
<text x="{middle}" y="22" text-anchor="middle" font-size="16">{heading}</text>
<text id="search" class="button" x="{right}" y="22" text-anchor="end">Search</text>
<text id="reset" class="button" x="{right}" y="22" dx="-60" text-anchor="end"></text>
<text id="details" x="10" y="{bottom}"> </text>
<text id="matched" x="{right}" y="{bottom}" text-anchor="end"> </text>
<g id="frames">
{boxes}
</g>
<script><![CDATA[
"use strict";
(function () {{
  var svg = document.documentElement;
  var total = Number(svg.getAttribute("data-total")) || 1;
  var frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
  var details = document.getElementById("details");
  var matched = document.getElementById("matched");
  var reset = document.getElementById("reset");
  function share(n) {{ return (100 * n / total).toFixed(2) + "%"; }}
  frames.forEach(function (g) {{
    g.addEventListener("mouseover", function () {{
      var n = Number(g.getAttribute("data-n"));
      details.textContent = g.getAttribute("data-name") + " (" + n + " samples, " + share(n) + ")";
    }});
    g.addEventListener("mouseout", function () {{ details.textContent = " "; }});
  }});
  function clear() {{
    frames.forEach(function (g) {{
      var rect = g.querySelector("rect");
      if (rect.hasAttribute("data-fill")) {{
        rect.setAttribute("fill", rect.getAttribute("data-fill"));
        rect.removeAttribute("data-fill");
      }}
    }});
    matched.textContent = " ";
    reset.textContent = "";
  }}
  function search(pattern) {{
    var re;
    try {{ re = new RegExp(pattern); }} catch (e) {{ matched.textContent = "bad pattern"; return; }}
    clear();
    var spans = [];
    frames.forEach(function (g) {{
      if (!re.test(g.getAttribute("data-name"))) return;
      var rect = g.querySelector("rect");
      rect.setAttribute("data-fill", rect.getAttribute("fill"));
      rect.setAttribute("fill", "{search}");
      var o = Number(g.getAttribute("data-o"));
      spans.push([o, o + Number(g.getAttribute("data-n"))]);
    }});
    // A match inside another match is not counted twice.
    spans.sort(function (a, b) {{ return a[0] - b[0] || b[1] - a[1]; }});
    var covered = 0, end = -1;
    spans.forEach(function (s) {{
      if (s[0] >= end) {{ covered += s[1] - s[0]; end = s[1]; }}
      else if (s[1] > end) {{ covered += s[1] - end; end = s[1]; }}
    }});
    matched.textContent = "Matched: " + share(covered);
    reset.textContent = "Reset";
  }}
  document.getElementById("search").addEventListener("click", function () {{
    var pattern = window.prompt("Search frames (regular expression):", "");
    if (pattern) search(pattern);
  }});
  reset.addEventListener("click", clear);
  var wanted = /[#&]search=([^&]*)/.exec(window.location.hash);
  if (wanted) search(decodeURIComponent(wanted[1]));
}})();
]]></script>
</svg>
"""

"""One self-contained HTML report: text, tables, figures and audio embedded, nothing linked.

    rep = Report("ASR evaluation", subtitle="kokoro-eval, 60 utterances")
    rep.heading("Corpus figures").table(score.to_frame())
    rep.figure(score.plot()).audio(wave, 16000, caption="worst utterance")
    rep.provenance(models={"w2v2-tiny-ctc": "abc123"})
    rep.save("out/report.html")

All text given to ``text``/``heading``/``table``/captions is HTML-escaped (transcripts and
file names can hold ``<``, ``&`` or quotes); only :meth:`Report.html` inserts markup as is,
for fragments that were escaped by their producer (e.g. ``CorpusScore.diff(uid, html=True)``).
Figures are embedded as base64 PNG or inline SVG, audio as base64 WAV.
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.1em} .subtitle{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:90%} th,td{border:1px solid #ddd;padding:3px 8px}
th{background:#f4f4f4} td{max-width:32em;overflow-wrap:break-word} .wb-table{overflow-x:auto}
figure{margin:1em 0} figcaption{color:#555;font-size:90%} code{background:#f4f4f4;padding:0 3px}
.provenance{font-size:85%;color:#444;border-top:1px solid #ccc;margin-top:2em} .provenance table{font-size:100%}
"""


def _inline(escaped: str) -> str:
    """**bold**, *italic* and `code` on already-escaped text."""
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<i>\1</i>", escaped)


_BULLET = re.compile(r"^\s*[-*] ")


def markdownish(text: str) -> str:
    """Escaped HTML from plain text with a little markdown: blank-line paragraphs, ``#`` headings,
    ``-``/``*`` bullet lists, ``**bold**``, ``*italic*``, ```code```."""
    out = []
    for block in re.split(r"\n\s*\n", str(text).strip()):
        lines = [ln.rstrip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        if all(_BULLET.match(ln) for ln in lines):
            items = "".join("<li>" + _inline(html.escape(_BULLET.sub("", ln))) + "</li>" for ln in lines)
            out.append(f"<ul>{items}</ul>")
            continue
        m = re.match(r"(#{1,4}) (.*)", lines[0])
        if m and len(lines) == 1:
            level = len(m.group(1)) + 1
            out.append(f"<h{level}>{_inline(html.escape(m.group(2)))}</h{level}>")
            continue
        out.append("<p>" + "<br>".join(_inline(html.escape(ln)) for ln in lines) + "</p>")
    return "\n".join(out)


class Report:
    """Builds one HTML document; every adder returns the report so calls chain."""

    def __init__(self, title: str, *, subtitle: str | None = None) -> None:
        self.title = title
        self.subtitle = subtitle
        self.blocks: list[str] = []
        self._provenance: dict | None = None

    # ------------------------------------------------------------------ content
    def heading(self, text: str, *, level: int = 2) -> "Report":
        level = min(max(int(level), 2), 5)
        self.blocks.append(f"<h{level}>{html.escape(str(text))}</h{level}>")
        return self

    def text(self, text: str) -> "Report":
        """Paragraphs of escaped text (a little markdown, see :func:`markdownish`)."""
        self.blocks.append(markdownish(text))
        return self

    def table(self, df, *, caption: str | None = None, max_rows: int = 200, index: bool = False,
              float_format: str = "{:.4f}") -> "Report":
        """A pandas DataFrame (escaped by pandas), cut to ``max_rows`` with a note saying so."""
        if len(df) == 0:
            cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
            self.blocks.append(f'<figure>{cap}<p style="color:#777">(none)</p></figure>')
            return self
        shown = df.head(max_rows) if max_rows and len(df) > max_rows else df
        body = shown.to_html(index=index, escape=True, border=0, na_rep="",
                             float_format=(lambda v: float_format.format(v)) if float_format else None)
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        more = (f"<figcaption>showing {max_rows} of {len(df)} rows</figcaption>"
                if shown is not df else "")
        self.blocks.append(f'<figure>{cap}<div class="wb-table">{body}</div>{more}</figure>')
        return self

    def figure(self, fig, *, caption: str | None = None, format: str = "png", dpi: int = 110,
               close: bool = True) -> "Report":
        """A matplotlib figure, embedded as base64 PNG (default) or inline SVG; closed afterwards."""
        buf = io.BytesIO()
        if format == "svg":
            fig.savefig(buf, format="svg", bbox_inches="tight")
            svg = buf.getvalue().decode("utf-8")
            svg = svg[svg.find("<svg"):]  # drop the XML prolog and doctype
            body = svg
        elif format == "png":
            fig.savefig(buf, format="png", bbox_inches="tight", dpi=dpi)
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            alt = html.escape(caption or "figure", quote=True)
            body = f'<img alt="{alt}" src="data:image/png;base64,{data}" style="max-width:100%">'
        else:
            raise ValueError(f"format={format!r}; use 'png' or 'svg'")
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.blocks.append(f"<figure>{body}{cap}</figure>")
        return self

    def audio(self, audio, sample_rate: int | None = None, *, caption: str | None = None) -> "Report":
        """An audio player with the clip embedded as base64 16-bit WAV (an array with its rate, or a file)."""
        import numpy as np
        import soundfile as sf

        if isinstance(audio, (str, Path)):
            audio, sample_rate = sf.read(str(audio), dtype="float32", always_2d=False)
        if sample_rate is None:
            raise ValueError("sample_rate is needed for an audio array")
        audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        buf = io.BytesIO()
        sf.write(buf, audio, int(sample_rate), format="WAV", subtype="PCM_16")
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.blocks.append(f'<figure><audio controls preload="none" src="data:audio/wav;base64,{data}"></audio>'
                           f"{cap}</figure>")
        return self

    def html(self, fragment: str) -> "Report":
        """Insert trusted markup as is (its producer must have escaped any user text in it)."""
        self.blocks.append(str(fragment))
        return self

    def provenance(self, *, models: dict[str, str | None] | None = None, **extra) -> "Report":
        """Record the provenance block (models + revisions, package versions, date, machine)."""
        from ..provenance import collect

        self._provenance = collect(models, **extra)
        return self

    # ------------------------------------------------------------------ output
    def _provenance_html(self) -> str:
        if self._provenance is None:
            self.provenance()
        p = self._provenance
        rows = [("date", p["date"])]
        rows += [(f"model {name}", rev or "unknown revision") for name, rev in p["models"].items()]
        rows += [(k, v if isinstance(v, str) else json.dumps(v, default=str)) for k, v in p.items()
                 if k not in ("models", "packages", "machine", "date")]
        rows += [(f"machine {k}", v) for k, v in p["machine"].items() if v is not None]
        rows += [(f"package {k}", v) for k, v in p["packages"].items()]
        body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f'<section class="provenance"><h2>Provenance</h2><table>{body}</table></section>'

    def body_html(self) -> str:
        sub = f'<p class="subtitle">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        return f"<h1>{html.escape(self.title)}</h1>{sub}\n" + "\n".join(self.blocks)

    def to_html(self) -> str:
        """The whole document: no external scripts, styles, images or sounds."""
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width,initial-scale=1">'
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>\n<body>\n"
                f"{self.body_html()}\n{self._provenance_html()}\n</body></html>\n")

    def _repr_html_(self) -> str:
        return self.body_html()

    def save(self, path: str | Path) -> Path:
        """Write the document (UTF-8), atomically."""
        from ..models.assets import atomic_write_bytes

        path = Path(path)
        return atomic_write_bytes(path, [self.to_html().encode("utf-8")])

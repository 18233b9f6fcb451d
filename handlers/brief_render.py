"""The briefing note laid out as Markdown (templates/brief.md.j2), DOCX (python-docx) or PDF (fpdf2), from a plain
`Brief` (handlers/brief_build.py). Each statement carries its footnote numbers; the sources follow at the end,
numbered, with their links. The timeline chart, when given, goes under the title."""

from __future__ import annotations

import io
import logging
from functools import cache
from pathlib import Path

from handlers.brief_build import Brief, Statement, day_text
from templates import render_markdown

# fpdf2 subsets the embedded font through fontTools, which logs every glyph list at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FORMATS = ("md", "docx", "pdf")
MIME = {
    "md": "text/markdown",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
SECTIONS = (
    ("pairs", "Reciprocal pairs: each side's status and whose move", "No open reciprocal pairs."),
    ("overdue", "Overdue steps", "None."),
    ("events", "What happened in the period", "Nothing recorded."),
)


def render_brief(brief: Brief, fmt: str, chart: tuple[bytes, str] | None = None, chart_name: str = "") -> bytes:
    """The document's bytes. `chart` is (PNG, alt text); Markdown links it as `chart_name` (a file beside it)."""
    if fmt == "md":
        return to_markdown(brief, chart_name if chart else "", chart[1] if chart else "").encode("utf-8")
    if fmt == "docx":
        return to_docx(brief, chart)
    if fmt == "pdf":
        return to_pdf(brief, chart)
    raise ValueError(f"unknown format {fmt!r}")


def filename(brief: Brief, fmt: str) -> str:
    scope = "all" if brief.scope == "All clusters" else brief.clusters[0].cluster.slug
    return f"roadmap-brief-{scope}-{brief.as_of.isoformat()}.{fmt}"


def heading(brief: Brief) -> tuple[str, list[str]]:
    lines = [
        f"Date: {day_text(brief.generated_on)}" + ("" if brief.is_current else f" · As of: {day_text(brief.as_of)}")
    ]
    lines.append(f"Scope: {brief.scope} · Period: {day_text(brief.since)} to {day_text(brief.as_of)}")
    return f"{brief.title} — briefing note", lines


def _safe_url(url: str) -> str:
    return url.replace(" ", "%20").replace(">", "%3E").replace("<", "%3C")


def to_markdown(brief: Brief, chart_name: str = "", chart_alt: str = "") -> str:
    footnotes = [f if not f.url else type(f)(f.number, f.text, _safe_url(f.url)) for f in brief.footnotes]
    view = Brief(brief.title, brief.generated_on, brief.as_of, brief.since, brief.scope, brief.clusters, footnotes)
    return render_markdown("brief.md.j2", dict(brief=view, chart=chart_name, chart_alt=chart_alt))


def _marks(s: Statement) -> str:
    return "".join(f"[{n}]" for n in s.notes)


def _progress(c) -> str:
    return " · ".join(f"{p.side.name} {p.done}/{p.total} done" for p in c.progress)


def to_docx(brief: Brief, chart: tuple[bytes, str] | None = None) -> bytes:
    from docx import Document
    from docx.shared import Inches

    doc = Document()
    title, lines = heading(brief)
    doc.core_properties.title = title
    doc.add_heading(title, level=0)
    for line in lines:
        doc.add_paragraph(line)
    if chart:
        doc.add_picture(io.BytesIO(chart[0]), width=Inches(6.3))
        doc.add_paragraph().add_run(chart[1]).italic = True
    for c in brief.clusters:
        doc.add_heading(c.cluster.title, level=1)
        doc.add_paragraph(_progress(c))
        for attr, name, empty in SECTIONS:
            doc.add_heading(name, level=2)
            items = getattr(c, attr)
            if not items:
                doc.add_paragraph(empty)
            for s in items:
                para = doc.add_paragraph(style="List Bullet")
                if s.label:
                    para.add_run(s.label + " ").bold = True
                para.add_run(s.text)
                para.add_run(_marks(s)).font.superscript = True
    doc.add_heading("Sources", level=1)
    for f in brief.footnotes:
        para = doc.add_paragraph()
        para.add_run(f"[{f.number}] ").bold = True
        para.add_run(f.text + (f" — {f.url}" if f.url else ""))
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@cache
def _font_dir() -> Path:
    """DejaVu Sans ships with matplotlib (already a dependency): a Unicode font for fpdf2, whose core fonts are
    Latin-1 only (names, dashes and ↔ would not print)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def to_pdf(brief: Brief, chart: tuple[bytes, str] | None = None) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", "", str(_font_dir() / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(_font_dir() / "DejaVuSans-Bold.ttf"))
    title, lines = heading(brief)
    pdf.set_title(title)
    pdf.set_creator("Roadmap bot")
    pdf.add_page()
    width = pdf.epw

    def text(body: str, size: float = 10, style: str = "", link: str = "") -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.multi_cell(width, size * 0.5, body, link=link, align="L", new_x="LMARGIN", new_y="NEXT")

    text(title, 16, "B")
    for line in lines:
        text(line, 10)
    pdf.ln(2)
    if chart:
        pdf.image(io.BytesIO(chart[0]), w=width, alt_text=chart[1])
        pdf.ln(2)
    for c in brief.clusters:
        pdf.ln(2)
        text(c.cluster.title, 13, "B")
        text(_progress(c), 9)
        for attr, name, empty in SECTIONS:
            pdf.ln(1)
            text(name, 11, "B")
            items = getattr(c, attr)
            if not items:
                text(empty, 9)
            for s in items:
                pdf.set_font("DejaVu", "", 9)
                label = f"{s.label} " if s.label else ""
                text(f"• {label}{s.text} {_marks(s)}", 9)
    pdf.ln(3)
    text("Sources", 13, "B")
    for f in brief.footnotes:
        text(f"[{f.number}] {f.text}" + (f" — {f.url}" if f.url else ""), 8, link=f.url or "")
    return bytes(pdf.output())

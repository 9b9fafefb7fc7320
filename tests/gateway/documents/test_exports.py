"""Every format a DoclingDocument is exported to, through docling-core's own serializers."""

from __future__ import annotations

import json

import pytest
from docling_core.types.doc import DoclingDocument

from gateway.documents.build import PageAnswers, build_document
from gateway.documents.exports import EXPORTS, to_chunks, to_doctags, to_html, to_json, to_markdown, to_text
from tests.gateway.documents.canned import DOCUMENT, HEIGHT, WIDTH, spotting_v1, union

BODY_WORDS = ("Pump Maintenance Report", "Hydraulic pressure measured at 212 bar", "压力测试合格", "Main valve")


@pytest.fixture(scope="module")
def document() -> DoclingDocument:
    second = PageAnswers(2, 800, 1000, "## Appendix\n\nSpare parts are listed below.")  # no spotting: page only
    return build_document([PageAnswers(1, WIDTH, HEIGHT, DOCUMENT, spotting_v1()), second]).document


@pytest.mark.parametrize("export", [to_markdown, to_html, to_text, to_doctags], ids=lambda f: f.__name__)
def test_each_text_export_holds_the_pages_words(export: object, document: DoclingDocument) -> None:
    assert callable(export)
    text = export(document)
    for words in (*BODY_WORDS, "Spare parts are listed below."):
        assert words in text


def test_markdown_has_the_structure_and_leaves_the_running_header_out(document: DoclingDocument) -> None:
    markdown = to_markdown(document)
    assert "# Pump Maintenance Report" in markdown and "## 1 Introduction" in markdown
    assert "1. Drain the oil" in markdown and "$$E = mc^2$$" in markdown
    assert "| Part " in markdown and "Table 1: Pressures" in markdown
    assert "ACME Engineering" not in markdown and "Page 7" not in markdown


def test_html_renders_the_table_with_its_spans_and_the_formula_as_mathml(document: DoclingDocument) -> None:
    html = to_html(document)
    assert '<th rowspan="2">Part</th>' in html and '<th colspan="2">Pressure (bar)</th>' in html
    assert "<math" in html


def test_doctags_and_json_keep_the_header_and_footer_with_their_places(document: DoclingDocument) -> None:
    doctags = to_doctags(document)
    assert "<page_header>" in doctags and "ACME Engineering Quarterly 2026</page_header>" in doctags
    assert "Page 7</page_footer>" in doctags
    labels = [text["label"] for text in to_json(document)["texts"]]
    assert "page_header" in labels and "page_footer" in labels


def test_the_json_is_plain_data_that_validates_as_a_docling_document(document: DoclingDocument) -> None:
    data = json.loads(json.dumps(to_json(document)))
    again = DoclingDocument.model_validate(data)
    assert set(again.pages) == {1, 2} and len(again.texts) == len(document.texts)


def test_chunks_carry_their_text_headings_and_page_and_box(document: DoclingDocument) -> None:
    chunks = to_chunks(document)
    paragraph = next(chunk for chunk in chunks if chunk["text"].startswith("Hydraulic pressure"))
    assert paragraph["headings"] == ["Pump Maintenance Report", "1 Introduction"]
    expected = union(
        "Hydraulic pressure measured at 212 bar before service.", "The pump was inspected by two engineers."
    )
    assert paragraph["provenance"] == [{"page": 1, "bbox": list(expected)}]
    table = next(chunk for chunk in chunks if "Main valve" in chunk["text"])
    assert table["provenance"][0]["page"] == 1 and table["provenance"][0]["bbox"] is not None
    assert all(chunk["provenance"] for chunk in chunks)
    assert not any("ACME Engineering" in chunk["text"] for chunk in chunks)


def test_a_chunk_placed_on_its_page_only_has_no_box(document: DoclingDocument) -> None:
    (appendix,) = [chunk for chunk in to_chunks(document) if chunk["text"] == "Spare parts are listed below."]
    assert appendix["headings"] == ["Pump Maintenance Report", "Appendix"]  # a section under page 1's title
    assert appendix["provenance"] == [{"page": 2, "bbox": None}]


def test_every_format_has_an_export_and_a_content_type(document: DoclingDocument) -> None:
    assert set(EXPORTS) == {"markdown", "html", "text", "doctags", "docling", "chunks"}
    for name, (export, media_type) in EXPORTS.items():
        result = export(document)
        assert result, name
        assert media_type.startswith("application/json" if name in ("docling", "chunks") else "text/")


def test_inline_latex_reaches_the_markdown_as_written_and_other_underscores_are_escaped() -> None:
    built = build_document([PageAnswers(1, 100, 100, "The sets $\\chi_{U},\\chi_{UK}$ of snake_case.")])
    assert to_markdown(built.document) == "The sets $\\chi_{U},\\chi_{UK}$ of snake\\_case."

"""Pages' canned answers → a DoclingDocument with the right items, labels, structure and provenance."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from docling_core.types.doc import (
    ContentLayer,
    CoordOrigin,
    DocItem,
    DocItemLabel,
    DoclingDocument,
    ListGroup,
    ListItem,
    PictureItem,
    SectionHeaderItem,
)

from gateway.documents.build import PageAnswers, build_document, page_only
from tests.gateway.documents.canned import (
    DOCUMENT,
    HEIGHT,
    LAYOUT_PARSE,
    LINES,
    WIDTH,
    pixels,
    spotting_v1,
    spotting_v15,
    union,
)

EVERY_LAYER = set(ContentLayer)


def items(document: DoclingDocument) -> list[DocItem]:
    return [
        item for item, _ in document.iterate_items(included_content_layers=EVERY_LAYER) if isinstance(item, DocItem)
    ]


def labelled(document: DoclingDocument, label: DocItemLabel) -> list[DocItem]:
    return [item for item in items(document) if item.label == label]


def box(item: DocItem) -> tuple[float, float, float, float]:
    (provenance,) = item.prov
    assert provenance.bbox.coord_origin == CoordOrigin.TOPLEFT
    return provenance.bbox.as_tuple()


@pytest.fixture(params=[spotting_v1, spotting_v15], ids=["spotting-1.0", "spotting_json-1.5"])
def document(request: pytest.FixtureRequest) -> DoclingDocument:
    spotting: Callable[[], str] = request.param
    return build_document([PageAnswers(1, WIDTH, HEIGHT, DOCUMENT, spotting())], name="scan").document


def test_the_page_has_its_size_and_the_items_their_labels_in_reading_order(document: DoclingDocument) -> None:
    assert document.name == "scan"
    assert document.pages[1].size.as_tuple() == (WIDTH, HEIGHT)
    assert [item.label for item in items(document)] == [
        DocItemLabel.PAGE_HEADER,
        DocItemLabel.TITLE,
        DocItemLabel.SECTION_HEADER,
        DocItemLabel.TEXT,
        DocItemLabel.LIST_ITEM,
        DocItemLabel.LIST_ITEM,
        DocItemLabel.LIST_ITEM,
        DocItemLabel.TEXT,
        DocItemLabel.FORMULA,
        DocItemLabel.TABLE,
        DocItemLabel.CAPTION,
        DocItemLabel.PICTURE,
        DocItemLabel.CAPTION,
        DocItemLabel.PAGE_FOOTER,
    ]


def test_boxes_are_the_spotted_lines_in_page_pixels_and_inside_the_page(document: DoclingDocument) -> None:
    title, section = labelled(document, DocItemLabel.TITLE) + labelled(document, DocItemLabel.SECTION_HEADER)
    (paragraph, chinese) = labelled(document, DocItemLabel.TEXT)
    (formula,) = labelled(document, DocItemLabel.FORMULA)
    assert box(title) == pixels((100, 50, 900, 90))
    assert box(section) == union("1 Introduction")
    assert box(paragraph) == union(
        "Hydraulic pressure measured at 212 bar before service.", "The pump was inspected by two engineers."
    )
    assert box(chinese) == union("压力测试合格，设备运行正常。")
    assert box(formula) == union("E=mc2")
    for item in items(document):
        left, top, right, bottom = box(item)
        assert 0 <= left <= right <= WIDTH and 0 <= top <= bottom <= HEIGHT, item.label


def test_the_running_header_and_footer_are_furniture_not_dropped(document: DoclingDocument) -> None:
    (header,) = labelled(document, DocItemLabel.PAGE_HEADER)
    (footer,) = labelled(document, DocItemLabel.PAGE_FOOTER)
    assert (header.text, box(header)) == ("ACME Engineering Quarterly 2026", union("ACME Engineering Quarterly 2026"))
    assert (footer.text, box(footer)) == ("Page 7", union("Page 7"))
    assert header.content_layer == footer.content_layer == ContentLayer.FURNITURE


def test_the_table_is_a_table_with_its_cells_spans_caption_and_box(document: DoclingDocument) -> None:
    (table,) = document.tables
    assert (table.data.num_rows, table.data.num_cols) == (3, 3)
    cells = {
        cell.text: (
            cell.start_row_offset_idx,
            cell.end_row_offset_idx,
            cell.start_col_offset_idx,
            cell.end_col_offset_idx,
        )
        for cell in table.data.table_cells
    }
    assert cells == {
        "Part": (0, 2, 0, 1),
        "Pressure (bar)": (0, 1, 1, 3),
        "Before": (1, 2, 1, 2),
        "After": (1, 2, 2, 3),
        "Main valve": (2, 3, 0, 1),
        "212": (2, 3, 1, 2),
        "180": (2, 3, 2, 3),
    }
    assert [cell.column_header for cell in table.data.table_cells[:3]] == [True, True, False]
    assert [table.data.grid[1][0].text, table.data.grid[0][2].text] == ["Part", "Pressure (bar)"]
    assert table.caption_text(document) == "Table 1: Pressures"
    assert box(table) == union("Part", "Pressure (bar)", "Before", "After", "Main valve", "212", "180")


def test_the_figure_is_a_picture_at_the_models_coordinates_with_its_caption(document: DoclingDocument) -> None:
    (picture,) = document.pictures
    assert box(picture) == pixels((100, 700, 900, 900))
    assert picture.caption_text(document) == "Figure 1: The pump after service"
    (caption,) = [ref.resolve(document) for ref in picture.captions]
    assert caption.parent.resolve(document) is picture
    assert box(caption) == union("Figure 1: The pump after service")


def test_lists_are_groups_and_a_nested_list_sits_in_its_item(document: DoclingDocument) -> None:
    drain, replace, torque = labelled(document, DocItemLabel.LIST_ITEM)
    assert isinstance(drain, ListItem) and isinstance(torque, ListItem)
    outer = drain.parent.resolve(document)
    assert isinstance(outer, ListGroup) and replace.parent.resolve(document) is outer
    assert [drain.text, drain.marker, drain.enumerated] == ["Drain the oil", "1.", True]
    inner = torque.parent.resolve(document)
    assert isinstance(inner, ListGroup) and inner.parent.resolve(document) is replace
    assert not torque.enumerated


def test_headings_are_a_title_then_section_headers_one_level_below_their_hashes(document: DoclingDocument) -> None:
    (title,) = labelled(document, DocItemLabel.TITLE)
    (section,) = labelled(document, DocItemLabel.SECTION_HEADER)
    assert title.text == "Pump Maintenance Report"
    assert isinstance(section, SectionHeaderItem) and (section.text, section.level) == ("1 Introduction", 1)


def test_the_json_validates_back_into_the_same_document(document: DoclingDocument) -> None:
    data = document.export_to_dict()
    again = DoclingDocument.model_validate(data)
    assert again.export_to_dict() == data
    assert [item.label for item in items(again)] == [item.label for item in items(document)]


def test_without_spotting_items_are_placed_on_their_page_only_and_figures_keep_their_coordinates() -> None:
    document = build_document([PageAnswers(1, WIDTH, HEIGHT, DOCUMENT)]).document
    (picture,) = document.pictures
    assert box(picture) == pixels((100, 700, 900, 900)) and not page_only(picture.prov[0], document)
    for item in items(document):
        if item is not picture:
            assert box(item) == (0, 0, WIDTH, HEIGHT) and page_only(item.prov[0], document), item.label
    assert not labelled(document, DocItemLabel.PAGE_HEADER)  # nothing saw the header


def test_spotting_alone_makes_every_line_a_text_item_with_its_box() -> None:
    document = build_document([PageAnswers(1, WIDTH, HEIGHT, spotting=spotting_v1())]).document
    assert [(item.label, item.text, box(item)) for item in items(document)] == [
        (DocItemLabel.TEXT, text, pixels(line_box)) for text, line_box in LINES
    ]


def test_layout_parse_labels_become_docling_labels_with_the_models_boxes() -> None:
    document = build_document([PageAnswers(1, WIDTH, HEIGHT, LAYOUT_PARSE, spotting_v15())]).document
    assert [(item.label, box(item)) for item in items(document)] == [
        (DocItemLabel.PAGE_HEADER, pixels((60, 15, 560, 35))),
        (DocItemLabel.TITLE, pixels((100, 50, 900, 90))),
        (DocItemLabel.TEXT, pixels((100, 140, 900, 195))),
        (DocItemLabel.TABLE, pixels((100, 425, 900, 510))),
        (DocItemLabel.PICTURE, pixels((100, 700, 900, 900))),
        (DocItemLabel.CAPTION, pixels((250, 910, 750, 935))),
        (DocItemLabel.PAGE_FOOTER, pixels((470, 965, 530, 985))),
    ]


def test_two_pages_keep_their_own_numbers_sizes_and_boxes() -> None:
    second = "# Appendix\n\nSpare parts are listed below."
    spotted = spotting_v1([("Appendix", (100, 100, 300, 120)), ("Spare parts are listed below.", (100, 150, 700, 170))])
    document = build_document(
        [PageAnswers(1, WIDTH, HEIGHT, DOCUMENT, spotting_v1()), PageAnswers(2, 800, 1000, second, spotted)]
    ).document
    assert {number: page.size.as_tuple() for number, page in document.pages.items()} == {
        1: (WIDTH, HEIGHT),
        2: (800, 1000),
    }
    appendix, parts = [item for item in items(document) if item.prov[0].page_no == 2]
    assert (appendix.label, appendix.text, box(appendix)) == (DocItemLabel.TITLE, "Appendix", (80, 100, 240, 120))
    assert (parts.text, box(parts)) == ("Spare parts are listed below.", (80, 150, 560, 170))
    assert len([item for item in items(document) if item.prov[0].page_no == 1]) == 14


def test_a_table_past_doclings_cell_limit_is_kept_as_text() -> None:
    wide_row = "<tr>" + '<td colspan="50">x</td>' * 100 + "</tr>"
    answer = "<table>" + wide_row + "<tr><td>y</td></tr>" * 250 + "</table>"
    document = build_document([PageAnswers(1, 100, 100, answer)]).document
    assert not document.tables
    (text,) = document.texts
    assert text.label == DocItemLabel.TEXT and text.text.startswith("x x x")


def test_a_picture_item_is_made_for_an_image_the_model_linked() -> None:
    document = build_document([PageAnswers(1, 100, 100, "![A pump](pump.png)")]).document
    (picture,) = document.pictures
    assert isinstance(picture, PictureItem) and picture.caption_text(document) == "A pump"
    assert box(picture) == (0, 0, 100, 100)

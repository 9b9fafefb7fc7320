"""Pages' answers → one ``DoclingDocument``.

Each page is added with its size in pixels of the image the engine read, and each block becomes the item
docling has for it: headings (``#`` the title, ``##`` a section header of level 1, …), paragraphs, list items in
list groups (nested lists inside their item), tables (``TableData`` with the HTML's row and column spans),
formulas (LaTeX), pictures, code, footnotes, captions attached to their table or picture, and running headers
and footers as ``PAGE_HEADER`` / ``PAGE_FOOTER`` in the furniture layer (where docling keeps them: in the JSON
and DocTags, left out of the Markdown, HTML and text exports). Reading order is the model's. The body is flat,
as docling's own converters write it: a heading does not contain its section, the chunker follows the levels.

Provenance: every item has one ``ProvenanceItem`` — its page, its box with ``CoordOrigin.TOPLEFT`` in the page
image's pixels (docling's serializers turn any origin to top-left themselves, so no flip is made), and the span
of its text. docling requires a box, so an item nobody could place (no spotting answer asked for, or alignment
found nothing — see ``align``) gets the whole page as its box: "on this page, place unknown". ``page_only``
tells the two apart.

Three ways in, one per request kind: document parsing and spotting (boxes found by alignment), document parsing
alone (one engine call per page; boxes only where the model wrote coordinates), spotting alone (what the CPU
``rapidocr`` engine gives: every line a text item with its own box).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from docling_core.types.doc import (
    BoundingBox,
    ContentLayer,
    CoordOrigin,
    DocItem,
    DocItemLabel,
    DoclingDocument,
    FloatingItem,
    ListGroup,
    ListItem,
    ProvenanceItem,
    Size,
    TableCell,
    TableData,
)

from gateway.documents.align import align
from gateway.documents.answers import Reading, read_answer
from gateway.documents.blocks import FIGURES, Block, BlockKind, caption_owner
from prompts.markup import answer_text
from prompts.spotting import NO_BOXES, parse_spotting, unplaced_text
from prompts.tables import Table

_TEXT_LABELS: dict[BlockKind, DocItemLabel] = {
    "paragraph": DocItemLabel.TEXT,
    "caption": DocItemLabel.CAPTION,  # one with no table or picture beside it
    "footnote": DocItemLabel.FOOTNOTE,
    "page_header": DocItemLabel.PAGE_HEADER,
    "page_footer": DocItemLabel.PAGE_FOOTER,
}
_FURNITURE = (DocItemLabel.PAGE_HEADER, DocItemLabel.PAGE_FOOTER)


@dataclass(frozen=True)
class PageAnswers:
    """One page: its number in the document (from 1), its image's size, and the answers asked for it."""

    number: int
    width: int
    height: int
    document: str | None = None  # the document-parsing answer (Markdown, or 1.5's layout forms)
    spotting: str | None = None  # the spotting answer (1.0's text(x1,y1),(x2,y2) runs or 1.5's JSON)
    warnings: tuple[str, ...] = ()  # what reading the answers for their tasks found (a non-answer, emptied)


@dataclass(frozen=True)
class Built:
    """A document, and what its reading warns of (``"Page N: …"``, for the client to see)."""

    document: DoclingDocument
    warnings: list[str]


def build_document(pages: Iterable[PageAnswers], name: str = "document") -> Built:
    """A DoclingDocument of ``pages`` in the order given."""
    document, warnings = DoclingDocument(name=name), []
    for page in pages:
        document.add_page(page_no=page.number, size=Size(width=page.width, height=page.height))
        reading = read_page(page)
        _PageWriter(document, page).write(reading.blocks)
        found = dict.fromkeys([*page.warnings, *reading.warnings])
        warnings += [f"Page {page.number}: {warning}" for warning in found]
    return Built(document, warnings)


def read_page(page: PageAnswers) -> Reading:
    """The blocks of one page, with the boxes its answers give."""
    lines = parse_spotting(page.spotting, page.width, page.height) if page.spotting is not None else None
    if page.document is None:
        blocks = [Block("paragraph", line.text, box=line.box) for line in lines or [] if line.text.strip()]
        if blocks:
            return Reading(blocks)
        spotted, said = answer_text(page.spotting or "")
        if text := unplaced_text(spotted):  # words, but no place for them: read as the page's text
            reading = read_answer(text, page.width, page.height)
            return Reading(reading.blocks, (NO_BOXES, *reading.warnings))
        return Reading([], said)
    reading = read_answer(page.document, page.width, page.height)
    return replace(reading, blocks=align(reading.blocks, lines, page.height)) if lines is not None else reading


def page_only(provenance: ProvenanceItem, document: DoclingDocument) -> bool:
    """Whether ``provenance`` places its item on its page only (its box is the whole page, see above)."""
    size = document.pages[provenance.page_no].size
    box = provenance.bbox
    return (box.l, box.t, box.r, box.b) == (0, 0, size.width, size.height)


class _PageWriter:
    """Adds one page's blocks to the document; list groups live as long as their items follow one another."""

    def __init__(self, document: DoclingDocument, page: PageAnswers) -> None:
        self.document, self.page = document, page
        self.lists: dict[int, ListGroup] = {}  # list_id → its group
        self.last_item: dict[int, ListItem] = {}  # depth → the last item there, which a deeper list nests in
        self.writers: dict[BlockKind, Callable[[Block, ProvenanceItem], DocItem]] = {
            "heading": self._heading,
            "list_item": self._list_item,
            "table": self._table,
            "formula": lambda block, prov: self.document.add_formula(block.text, prov=prov),
            "picture": lambda block, prov: self.document.add_picture(prov=prov),
            "code": lambda block, prov: self.document.add_code(block.text, prov=prov),
        }

    def write(self, blocks: list[Block]) -> None:
        for index, block in enumerate(blocks):
            if block.kind == "caption" and caption_owner(blocks, index) is not None:
                continue  # written with its table or picture
            if block.kind != "list_item":
                self.lists.clear()
                self.last_item.clear()
            item = self.writers.get(block.kind, self._text)(block, self._provenance(block))
            if isinstance(item, FloatingItem) and block.kind in FIGURES:
                self._captions(item, blocks, index)

    def _provenance(self, block: Block) -> ProvenanceItem:
        left, top, right, bottom = block.box or (0, 0, self.page.width, self.page.height)
        box = BoundingBox(l=left, t=top, r=right, b=bottom, coord_origin=CoordOrigin.TOPLEFT)
        return ProvenanceItem(page_no=self.page.number, bbox=box, charspan=(0, len(block.text)))

    def _text(self, block: Block, provenance: ProvenanceItem) -> DocItem:
        label = _TEXT_LABELS[block.kind]
        layer = ContentLayer.FURNITURE if label in _FURNITURE else None
        item: DocItem = self.document.add_text(label, block.text, prov=provenance, content_layer=layer)
        return item

    def _heading(self, block: Block, provenance: ProvenanceItem) -> DocItem:
        if block.level == 1:
            return self.document.add_title(block.text, prov=provenance)
        return self.document.add_heading(block.text, level=block.level - 1, prov=provenance)

    def _list_item(self, block: Block, provenance: ProvenanceItem) -> DocItem:
        group = self.lists.get(block.list_id)
        if group is None:
            group = self.document.add_list_group(parent=self.last_item.get(block.level - 1))
            self.lists[block.list_id] = group
        item: ListItem = self.document.add_list_item(
            block.text, enumerated=block.enumerated, marker=block.marker, prov=provenance, parent=group
        )
        self.last_item[block.level] = item
        return item

    def _table(self, block: Block, provenance: ProvenanceItem) -> DocItem:
        try:
            data = _table_data(block.table or Table((), 0, 0))
        except ValueError:  # a grid past docling's cell limit (DOCLINGCORE_MAX_TABLE_CELLS) is a model slip
            return self._text(replace(block, kind="paragraph"), provenance)
        return self.document.add_table(data, prov=provenance)

    def _captions(self, item: FloatingItem, blocks: list[Block], index: int) -> None:
        for neighbour in (index - 1, index + 1):
            if 0 <= neighbour < len(blocks) and blocks[neighbour].kind == "caption":
                if caption_owner(blocks, neighbour) == index:
                    caption = blocks[neighbour]
                    text = self.document.add_text(
                        DocItemLabel.CAPTION, caption.text, prov=self._provenance(caption), parent=item
                    )
                    item.captions.append(text.get_ref())


def _table_data(table: Table) -> TableData:
    cells = [
        TableCell(
            text=cell.text,
            row_span=cell.row_span,
            col_span=cell.col_span,
            start_row_offset_idx=cell.row,
            end_row_offset_idx=cell.row + cell.row_span,
            start_col_offset_idx=cell.col,
            end_col_offset_idx=cell.col + cell.col_span,
            column_header=cell.header,
        )
        for cell in table.cells
    ]
    return TableData(table_cells=cells, num_rows=table.num_rows, num_cols=table.num_cols)

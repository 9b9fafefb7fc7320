"""PaddleX serving's API (``/paddlex/ocr``, ``/paddlex/layout-parsing``) for PaddleOCR's own clients."""

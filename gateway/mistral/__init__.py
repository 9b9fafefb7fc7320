"""Mistral's OCR API (``POST /v1/ocr``), served by our engine: Open WebUI's "Mistral OCR" extractor and other
Mistral-OCR clients work unchanged."""

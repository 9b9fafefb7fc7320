"""hunyuan-ocr-gateway: an OpenAI-compatible OCR gateway serving Tencent's HunyuanOCR."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hunyuan-ocr-gateway")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"

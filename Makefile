# `make serve` and `make test` set up .venv themselves (once) and then run.
VENV ?= .venv
PYTHON ?= python3
# The GPU extra where an NVIDIA driver answers, the CPU build of vLLM elsewhere.
EXTRA := $(shell nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.installed-$(EXTRA)
ARGS ?=

.PHONY: install system-deps serve test test-unit test-open-webui check docs bench tiny-checkpoint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -e ".[$(EXTRA),test,dev]"
ifeq ($(EXTRA),cpu)
	# PyPI's torchvision/torchaudio are CUDA builds: beside CPU torch they break
	# the HunYuanVL import ("operator torchvision::nms does not exist").
	$(VENV)/bin/python -m pip uninstall -y torchvision torchaudio torchcodec
endif
	touch $@

# Debian packages some tests drive (browser, fonts, database; Ghostscript and qpdf for OCRmyPDF, poppler's tools to
# read the PDFs it makes, Tesseract to compare with; libGL and GLib for rapid-layout's OpenCV); installed once, only
# those missing.
# A package counts as present when its command is (Node.js builds that bundle npm provide no npm package).
DEBIAN_TEST_PACKAGES := libgl1 libglib2.0-0 chromium nodejs npm fonts-dejavu-core fonts-wqy-zenhei fonts-arphic-uming postgresql ghostscript qpdf poppler-utils tesseract-ocr tesseract-ocr-chi-sim haproxy faketime
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

system-deps:
	@missing="$$(for package in $(DEBIAN_TEST_PACKAGES); do dpkg -s $$package >/dev/null 2>&1 || command -v $$package >/dev/null 2>&1 || echo $$package; done)"; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; fi

serve: install
	$(VENV)/bin/ocr-gateway serve $(ARGS)

# PaddleOCR's own MCP server (tests/integration/test_paddlex_api.py) and langchain-paddleocr's loader
# (tests/integration/test_paddleocr_jobs.py) get a virtualenv of their own: they pull PaddleX (not PaddlePaddle), whose
# pins (PyYAML==6.0.2, opencv-contrib-python 4.10 over our opencv-python) clash with ours.
PADDLEOCR_MCP_VENV ?= $(HOME)/.cache/hunyuan-ocr-gateway/paddleocr-mcp-venv
PADDLEOCR_MCP_STAMP := $(PADDLEOCR_MCP_VENV)/.installed-0.8.5-langchain-0.2.2

$(PADDLEOCR_MCP_STAMP):
	test -x $(PADDLEOCR_MCP_VENV)/bin/python || $(PYTHON) -m venv $(PADDLEOCR_MCP_VENV)
	$(PADDLEOCR_MCP_VENV)/bin/python -m pip install "paddleocr-mcp==0.8.5" "langchain-paddleocr==0.2.2"
	touch $@

# pytest-xdist workers, each taking a test file at a time (a module's fixtures stay one per file; each worker
# starts the session's servers it needs). Half the suite's time is waiting (engine starts, backoffs, sockets), so two
# workers on two cores take ~0.7 of one's time (15-16 min against 22 here; running the integration files first
# measured no better). TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
PYTEST_WORKERS := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# pytest's exit 5 (nothing collected, e.g. a -k filter) is not a failure.
test: install system-deps $(PADDLEOCR_MCP_STAMP)
	PADDLEOCR_MCP_BIN=$(PADDLEOCR_MCP_VENV)/bin/paddleocr_mcp PADDLEOCR_PYTHON=$(PADDLEOCR_MCP_VENV)/bin/python \
		$(VENV)/bin/python -m pytest $(PYTEST_WORKERS) $(ARGS) || [ $$? -eq 5 ]

# The fast loop: every test but those that start real servers or engines (the `integration` marker).
test-unit: install system-deps
	$(VENV)/bin/python -m pytest -m "not integration" $(PYTEST_WORKERS) $(ARGS) || [ $$? -eq 5 ]

# The real Open WebUI in Chromium against the gateway (tests/optional/test_open_webui_browser.py), not part of
# `make test`. Open WebUI 0.12 (Python 3.11 or 3.12 only) gets a virtualenv of its own, outside the repo, as its pins
# clash with ours: about 2 minutes and 7.5 GB (CUDA-built torch included) once.
OPEN_WEBUI_VENV ?= $(HOME)/.cache/hunyuan-ocr-gateway/open-webui-venv
OPEN_WEBUI_PYTHON ?= $(shell for python in python3.12 python3.11; do $$python -c '' 2>/dev/null && echo $$python && break; done)
OPEN_WEBUI_STAMP := $(OPEN_WEBUI_VENV)/.installed-0.12

$(OPEN_WEBUI_STAMP):
	@test -n "$(OPEN_WEBUI_PYTHON)" || { echo "Open WebUI needs Python 3.11 or 3.12: set OPEN_WEBUI_PYTHON"; exit 1; }
	test -x $(OPEN_WEBUI_VENV)/bin/python || $(OPEN_WEBUI_PYTHON) -m venv $(OPEN_WEBUI_VENV)
	$(OPEN_WEBUI_VENV)/bin/python -m pip install "open-webui==0.12.*"
	touch $@

test-open-webui: install system-deps $(OPEN_WEBUI_STAMP)
	OPEN_WEBUI_BIN=$(OPEN_WEBUI_VENV)/bin/open-webui $(VENV)/bin/python -m pytest tests/optional/test_open_webui_browser.py $(ARGS)

check: install
	$(VENV)/bin/ruff format --check gateway adapters prompts tests
	$(VENV)/bin/ruff check gateway adapters prompts tests
	$(VENV)/bin/mypy gateway adapters prompts

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on a broken link or a missing page. An existing
# .venv only gets mkdocs-material, at the pin of pyproject.toml's test extra, when it lacks it.
docs:
	test -x $(VENV)/bin/python || $(MAKE) install
	$(VENV)/bin/python -c "import material" 2>/dev/null || \
		$(VENV)/bin/python -m pip install "$$(grep -o 'mkdocs-material[^"]*' pyproject.toml)"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Side-by-side benchmark (≈15 min; ARGS="--quick" for the < 3 min smoke CI runs).
bench: install
	$(VENV)/bin/python -m bench.compare $(ARGS)

tiny-checkpoint: install
	$(VENV)/bin/python tests/tiny_checkpoint.py $(or $(OUT),artifacts/tiny-hunyuanocr)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

#!/usr/bin/env bash
# The simple API with nothing but curl: the file itself is the body.
#   examples/ocr_endpoint_curl.sh scan.jpg            # → {"text": ..., "task": "document", "usage": ..., ...}
#   examples/ocr_endpoint_curl.sh doc.pdf table       # any task by name; a PDF answers page by page ("pages")
# Environment: OCR_GATEWAY_URL (default http://127.0.0.1:8000/v1; /ocr sits beside /v1), OPENAI_API_KEY (sent as
# the bearer token), MAX_TOKENS (optional cap per page).
set -euo pipefail
file=${1:?usage: $0 IMAGE_OR_PDF [TASK]}
task=${2:-document}
base_url=${OCR_GATEWAY_URL:-http://127.0.0.1:8000/v1}
case "${file,,}" in
  *.pdf) mime=application/pdf ;; *.jpg|*.jpeg) mime=image/jpeg ;; *.webp) mime=image/webp ;; *) mime=image/png ;;
esac
curl -sS --fail-with-body "${base_url%/v1}/ocr?task=$task${MAX_TOKENS:+&max_tokens=$MAX_TOKENS}" \
  -H "Content-Type: $mime" \
  -H "Authorization: Bearer ${OPENAI_API_KEY:-unused}" \
  --data-binary @"$file"
echo

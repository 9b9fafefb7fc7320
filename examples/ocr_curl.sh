#!/usr/bin/env bash
# OCR an image with nothing but curl:  examples/ocr_curl.sh scan.png ["Extract all text in this image."]
# Environment: OCR_GATEWAY_URL (default http://127.0.0.1:8000/v1), MODEL (default: the server's first model),
# OPENAI_API_KEY (sent as the bearer token), MAX_TOKENS (optional cap on the answer).
set -euo pipefail
image=${1:?usage: $0 IMAGE [INSTRUCTION]}
instruction=${2:-Extract all text in this image.}
base_url=${OCR_GATEWAY_URL:-http://127.0.0.1:8000/v1}
model=${MODEL:-$(curl -sS "$base_url/models" | sed -E 's/.*"data":\[\{"id":"([^"]*)".*/\1/')}
case "${image,,}" in
  *.jpg|*.jpeg) mime=image/jpeg ;; *.webp) mime=image/webp ;; *.gif) mime=image/gif ;; *) mime=image/png ;;
esac
max_tokens=${MAX_TOKENS:+\"max_tokens\": $MAX_TOKENS,}
# The body is streamed from stdin: a photo's base64 is too long for a command line.
{
  printf '{"model": "%s", "temperature": 0, %s "messages": [{"role": "user", "content": [' "$model" "$max_tokens"
  printf '{"type": "image_url", "image_url": {"url": "data:%s;base64,' "$mime"
  base64 -w0 "$image"
  printf '"}}, {"type": "text", "text": "%s"}]}]}' "${instruction//\"/\\\"}"
} | curl -sS "$base_url/chat/completions" \
  -H "Content-Type: application/json" \
  -H "Authorization: Bearer ${OPENAI_API_KEY:-unused}" \
  --data-binary @-
echo

// The web page: files in, one streamed Chat Completions request out, the answer shown, copied, exported.
// It speaks only the public API: GET /v1/models, GET /v1/tasks(/{task}), POST /v1/chat/completions (SSE), and
// POST /ocr?format=… for the documents a read file can be downloaded as (documents.js).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "ocr-gateway.api-key";
const FIELD_TASKS = new Set(["fields", "field"]);

const state = {
  files: [], // {id, name, kind: "image" | "pdf", blob, dataUrl, previewUrl}
  catalog: null, // GET /v1/tasks
  model: null,
  promptText: "", // what the model is asked, as shown
  running: null, // AbortController of the request in flight
  result: null, // what the exports hold
};

// --- talking to the server ----------------------------------------------------

function headers(extra = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

class ApiError extends Error {
  constructor(status, body) {
    super(explain(status, body));
    this.status = status;
  }
}

// A clear sentence for each failure, with the server's own words where they help.
function explain(status, body) {
  const detail = body?.error?.message || "";
  switch (status) {
    case 401:
      return "This server needs an API key (or the key was refused): enter it under Settings → API key.";
    case 413:
      return `Too large: ${detail || "the file or request is over the server's limit."} Try a smaller image or fewer pages.`;
    case 415:
      return `Unsupported file: ${detail || "the server cannot read this format."}`;
    case 400:
      return `The server could not use this request: ${detail}`;
    case 429:
      return "The server is busy with other requests; try again in a few seconds.";
    case 503:
      return `The model is not ready: ${detail || "it is still loading."} Try again shortly.`;
    case 504:
      return "The request took longer than the server allows.";
    case 0:
      return `Could not reach the server: ${detail}`;
    case "stream":
      return `The answer stopped with an error: ${detail}`;
    default:
      return `The server answered ${status}: ${detail || "unexpected error."}`;
  }
}

async function getJson(path) {
  const response = await fetch(path, { headers: headers() });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// Yields each SSE event of a streaming response as {data, at}: its `data:` payload and when its bytes arrived
// (performance.now() as the read returned). Only the unfinished event is kept between reads, so each read costs
// what it carries however long the stream has run.
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let unfinished = "";
  for (;;) {
    const { value, done } = await reader.read();
    const at = performance.now();
    const text = unfinished + decoder.decode(value || new Uint8Array(), { stream: !done }).replace(/\r\n?/g, "\n");
    const events = text.split("\n\n");
    unfinished = events.pop();
    for (const event of events) {
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) yield { data, at };
    }
    if (done) return;
  }
}

const FLUSH_AFTER_MS = 100;

// Shows text as it streams into `element`: what arrived since the last frame is appended once per frame, so a chunk
// costs the same at token 8,000 as at token 1 (setting the whole answer per chunk copied all of it every time).
// Frames can stop coming (a background tab, a compositor short of CPU), so a timer flushes too, FLUSH_AFTER_MS at
// the latest. `end` drops what is pending (the caller then sets the element's final text).
function streamInto(element) {
  let pending = "";
  let frame = null;
  let timer = null;
  const cancel = () => {
    if (frame !== null) cancelAnimationFrame(frame);
    if (timer !== null) clearTimeout(timer);
    frame = timer = null;
  };
  const flush = () => {
    cancel();
    element.append(pending);
    pending = "";
  };
  return {
    add(text) {
      pending += text;
      frame ??= requestAnimationFrame(flush);
      timer ??= setTimeout(flush, FLUSH_AFTER_MS);
    },
    end() {
      cancel();
      pending = "";
    },
  };
}

// --- start-up: the served model and the task catalog -------------------------

async function loadServerInfo() {
  try {
    const models = await getJson("/v1/models");
    state.model = models.data[0].id;
    $("model-name").textContent = state.model;
    state.catalog = await getJson("/v1/tasks");
    applyCatalog(state.catalog);
    showError("");
  } catch (error) {
    $("model-name").textContent = "unavailable";
    showError(error.message);
    if (error.status === 401) {
      $("advanced").open = true;
      $("api-key").focus();
    }
  }
  await updatePrompt();
}

function applyCatalog(catalog) {
  const select = $("task");
  const known = new Set(catalog.data.map((task) => task.id));
  for (const option of select.querySelectorAll("option")) {
    option.disabled = option.value !== "none" && !known.has(option.value);
  }
  const listed = new Set(Array.from(select.options, (option) => option.value));
  $("more-tasks").replaceChildren(
    ...catalog.data.filter((task) => !listed.has(task.id)).map((task) => new Option(task.id, task.id)),
  );
  $("target-lang").replaceChildren(
    ...Object.entries(catalog.target_languages).map(([code, name]) => new Option(name, code)),
  );
  const hasEnglish = catalog.data.some((task) => task.prompts.en);
  $("prompt-lang-row").hidden = !hasEnglish;
}

// --- files: picker, drag and drop, paste, thumbnails -------------------------

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function addFiles(fileList) {
  let added = 0;
  for (const file of fileList) {
    const isPdf = file.type === "application/pdf" || /\.pdf$/i.test(file.name);
    if (!isPdf && !file.type.startsWith("image/")) {
      showError(`${file.name || "This item"} is neither an image nor a PDF.`);
      continue;
    }
    const dataUrl = await readAsDataUrl(file);
    state.files.push({
      id: crypto.randomUUID ? crypto.randomUUID() : String(Math.random()),
      name: file.name || "pasted image",
      kind: isPdf ? "pdf" : "image",
      blob: isPdf ? new Blob([file], { type: "application/pdf" }) : file,
      // A PDF the browser did not type gets the right media type, so the server reads it as a PDF.
      dataUrl: isPdf ? dataUrl.replace(/^data:[^;,]*/, "data:application/pdf") : dataUrl,
      previewUrl: isPdf ? null : URL.createObjectURL(file),
    });
    added += 1;
  }
  if (added) {
    renderThumbnails();
    announce(`${added} file${added > 1 ? "s" : ""} added; ${state.files.length} selected.`);
  }
  await updatePrompt();
}

function removeFile(id) {
  const file = state.files.find((entry) => entry.id === id);
  if (file?.previewUrl) URL.revokeObjectURL(file.previewUrl);
  state.files = state.files.filter((entry) => entry.id !== id);
  renderThumbnails();
  announce(`${file.name} removed; ${state.files.length} selected.`);
  $("choose-files").focus();
  updatePrompt();
}

function renderThumbnails() {
  $("thumbnails").replaceChildren(
    ...state.files.map((file) => {
      const item = document.createElement("li");
      let preview;
      if (file.kind === "image") {
        preview = document.createElement("img");
        preview.src = file.previewUrl;
        preview.alt = "";
      } else {
        preview = document.createElement("span");
        preview.className = "pdf-icon";
        preview.textContent = "PDF";
      }
      const name = document.createElement("span");
      name.textContent = file.name;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.addEventListener("click", () => removeFile(file.id));
      item.append(preview, name, remove);
      return item;
    }),
  );
}

function wireFileInputs() {
  const zone = $("drop-zone");
  $("file-input").addEventListener("change", async (event) => {
    await addFiles(event.target.files);
    event.target.value = "";
  });
  $("choose-files").addEventListener("click", () => $("file-input").click());
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    addFiles(event.dataTransfer.files);
  });
  document.addEventListener("paste", (event) => {
    const files = Array.from(event.clipboardData?.files || []);
    if (files.length) {
      event.preventDefault();
      addFiles(files);
    }
  });
}

// --- the request --------------------------------------------------------------

function taskSettings() {
  const task = $("task").value;
  const fields = $("fields")
    .value.split(",")
    .map((field) => field.trim())
    .filter(Boolean);
  return {
    task,
    target_lang: task === "translate" ? $("target-lang").value : null,
    fields: FIELD_TASKS.has(task) ? fields : null,
    lang: $("prompt-lang").value || null,
  };
}

function buildRequest() {
  const settings = taskSettings();
  const content = state.files.map((file) =>
    file.kind === "pdf"
      ? { type: "file", file: { file_data: file.dataUrl, filename: file.name } }
      : { type: "image_url", image_url: { url: file.dataUrl } },
  );
  const words = $("instruction").value.trim();
  if (settings.task === "none" && words) content.push({ type: "text", text: words });
  const body = {
    model: state.model || undefined,
    messages: [{ role: "user", content }],
    stream: true,
    stream_options: { include_usage: true },
    task: settings.task,
  };
  for (const name of ["target_lang", "fields", "lang"]) if (settings[name]) body[name] = settings[name];
  const maxTokens = parseInt($("max-tokens").value, 10);
  if (maxTokens > 0) body.max_completion_tokens = maxTokens;
  return body;
}

// The request as shown: data URLs shortened, the rest as sent.
function requestForDisplay(body) {
  return JSON.stringify(
    body,
    (key, value) =>
      typeof value === "string" && value.startsWith("data:")
        ? `${value.slice(0, value.indexOf(",") + 1)}… (${Math.round((value.length * 3) / 4).toLocaleString()} bytes)`
        : value,
    2,
  );
}

let promptVersion = 0;

// Shows the prompt the model gets: for a task, the server's official prompt (from the same catalog the chat
// endpoint uses); for a free instruction, the words as typed.
async function updatePrompt() {
  const settings = taskSettings();
  $("fields-row").hidden = !FIELD_TASKS.has(settings.task);
  $("target-lang-row").hidden = settings.task !== "translate";
  const free = settings.task === "none";
  $("instruction").disabled = !free;
  $("instruction-hint").textContent = free
    ? "(sent to the model as written)"
    : "(choose “Free instruction” to send your own words)";
  $("request-preview").textContent = requestForDisplay(buildRequest());
  const version = ++promptVersion;
  let text;
  if (free) {
    text = $("instruction").value.trim() || "(no words: only the files are sent)";
  } else {
    const query = new URLSearchParams();
    for (const name of ["target_lang", "lang"]) if (settings[name]) query.set(name, settings[name]);
    for (const field of settings.fields || []) query.append("fields", field);
    try {
      text = (await getJson(`/v1/tasks/${encodeURIComponent(settings.task)}?${query}`)).prompt;
    } catch (error) {
      text = `(${error.message})`;
    }
  }
  if (version === promptVersion) {
    state.promptText = text;
    $("prompt-preview").textContent = text;
  }
}

async function run(event) {
  event?.preventDefault();
  if (state.running) return;
  if (!state.files.length) {
    showError("Add an image or a PDF first.");
    $("choose-files").focus();
    return;
  }
  const body = buildRequest();
  $("request-preview").textContent = requestForDisplay(body);
  const controller = new AbortController();
  setRunning(controller);
  const answer = { text: "", task: body.task, model: body.model, usage: null, finish: null, ocr: null };
  answer.files = [...state.files]; // what this run read, whatever is added or removed meanwhile
  answer.shown = streamInto($("output"));
  answer.started = performance.now();
  answer.firstTokenAt = null; // when the first and last content arrived: the stream's own timing
  answer.lastTokenAt = null;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    for await (const { data, at } of sseEvents(response)) {
      if (data === "[DONE]") break;
      addChunk(answer, JSON.parse(data), at);
    }
    finish(answer, "done");
  } catch (error) {
    const stopped = error.name === "AbortError";
    finish(answer, stopped ? "stopped" : "error");
    if (!stopped) showError(error instanceof ApiError ? error.message : explain(0, { error: { message: error.message } }));
  }
}

function addChunk(answer, chunk, at) {
  if (chunk.error) throw new ApiError("stream", chunk);
  answer.model = chunk.model || answer.model;
  if (chunk.usage) answer.usage = chunk.usage;
  if (chunk.ocr) answer.ocr = chunk.ocr;
  for (const choice of chunk.choices || []) {
    if (choice.delta?.content) {
      answer.firstTokenAt ??= at;
      answer.lastTokenAt = at;
      answer.text += choice.delta.content;
      answer.shown.add(choice.delta.content);
    }
    if (choice.finish_reason) answer.finish = choice.finish_reason;
  }
}

function setRunning(controller) {
  state.running = controller;
  state.result = null;
  showError("");
  $("output").textContent = "";
  $("output").dataset.state = "running";
  $("output").setAttribute("aria-busy", "true");
  $("rendered").replaceChildren();
  window.clearDocuments();
  $("stats").textContent = "";
  $("run").disabled = true;
  $("stop").disabled = false;
  for (const id of ["copy", "export-txt", "export-json"]) $(id).disabled = true;
  announce("Running…");
}

function finish(answer, outcome) {
  const ended = performance.now();
  const completionTokens = answer.usage?.completion_tokens ?? null;
  const { started, firstTokenAt, lastTokenAt } = answer;
  const generationSeconds = firstTokenAt === null ? 0 : (lastTokenAt - firstTokenAt) / 1000;
  // Tokens after the first, over the time from the first to the last: the decode rate, as the stream delivered it.
  const tokensPerSecond =
    completionTokens > 1 && generationSeconds > 0 ? (completionTokens - 1) / generationSeconds : null;
  state.running = null;
  state.result = {
    text: answer.text,
    task: answer.ocr?.task ?? (answer.task === "none" ? null : answer.task),
    prompt: state.promptText,
    model: answer.model,
    files: answer.files.map((file) => file.name),
    finish_reason: answer.finish,
    outcome,
    timings: {
      ttft_ms: firstTokenAt === null ? null : round(firstTokenAt - started, 1),
      total_ms: round(ended - started, 1),
      tokens_per_second: tokensPerSecond === null ? null : round(tokensPerSecond, 2),
    },
    usage: answer.usage,
    boxes: answer.ocr?.boxes ?? null, // spotting on one file: each line's text and box in its pixels
    created: new Date().toISOString(),
  };
  const output = $("output");
  answer.shown.end();
  output.textContent = answer.text;
  output.dataset.state = outcome;
  output.setAttribute("aria-busy", "false");
  window.renderResult(answer.text, $("rendered"));
  $("stats").textContent = statsLine(state.result);
  $("run").disabled = false;
  $("stop").disabled = true;
  for (const id of ["copy", "export-txt", "export-json"]) $(id).disabled = false;
  announce({ done: "Done.", stopped: "Stopped.", error: "Failed." }[outcome]);
  if (outcome === "done") {
    const helpers = { headers, explain, announce, showError, save };
    window.showDocuments(answer.files, state.result.boxes, helpers).catch((error) => showError(error.message));
  }
}

function statsLine(result) {
  const parts = [];
  if (result.timings.ttft_ms !== null) parts.push(`TTFT ${Math.round(result.timings.ttft_ms)} ms`);
  if (result.timings.tokens_per_second !== null) parts.push(`${result.timings.tokens_per_second} tokens/s`);
  if (result.usage) parts.push(`${result.usage.prompt_tokens} prompt + ${result.usage.completion_tokens} output tokens`);
  parts.push(`${(result.timings.total_ms / 1000).toFixed(2)} s total`);
  return parts.join(" · ");
}

const round = (value, digits) => Math.round(value * 10 ** digits) / 10 ** digits;

// --- result: view, copy, export ---------------------------------------------------

function save(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function copyResult() {
  const text = state.result?.text ?? "";
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Pages served over plain http from another host have no clipboard API: select and copy instead.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  announce("Copied the result to the clipboard.");
}

function showView() {
  const rendered = document.querySelector('input[name="view"]:checked').value === "rendered";
  $("rendered").hidden = !rendered;
  $("output").hidden = rendered;
}

// --- small helpers ----------------------------------------------------------------

function announce(message) {
  $("status").textContent = message;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function init() {
  const keyField = $("api-key");
  keyField.value = localStorage.getItem(KEY_STORAGE) || "";
  keyField.addEventListener("change", () => {
    const key = keyField.value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
    loadServerInfo();
  });
  wireFileInputs();
  for (const id of ["task", "target-lang", "prompt-lang", "fields", "instruction", "max-tokens"]) {
    $(id).addEventListener("input", updatePrompt);
  }
  $("ocr-form").addEventListener("submit", run);
  $("ocr-form").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) run(event);
  });
  $("stop").addEventListener("click", () => state.running?.abort());
  $("copy").addEventListener("click", copyResult);
  $("export-txt").addEventListener("click", () =>
    save("ocr-result.txt", new Blob([state.result.text], { type: "text/plain" })),
  );
  $("export-json").addEventListener("click", () =>
    save("ocr-result.json", new Blob([JSON.stringify(state.result, null, 2)], { type: "application/json" })),
  );
  for (const radio of document.querySelectorAll('input[name="view"]')) radio.addEventListener("change", showView);
  loadServerInfo();
}

init();

// After a run: each file it read can be downloaded as a document that POST /ocr?format=… makes of it, and the
// spotting task's boxes are drawn over the image they were found in. Model text is only ever set as text (a
// box's title), never parsed as HTML. app.js calls showDocuments / clearDocuments and lends its helpers.
"use strict";

(function () {
  // Each download reads the file again on the server: its title says so, as it costs engine time.
  const FORMATS = [
    { format: "pdf", label: "Searchable PDF", extension: ".pdf", what: "the file with an invisible text layer" },
    { format: "markdown", label: "Markdown", extension: ".md", what: "the document as Markdown" },
    { format: "docling", label: "DoclingDocument JSON", extension: ".json", what: "a DoclingDocument (JSON)" },
  ];

  const $ = (id) => document.getElementById(id);
  let imageUrl = null; // the object URL the boxes' image shows
  let shown = 0; // counts clears: an image decoded after a newer run began draws nothing

  const stem = (name) => name.replace(/\.[^./\\]*$/, "") || "document";

  async function downloadDocument(file, spec, button, api) {
    const filename = stem(file.name) + spec.extension;
    const form = new FormData();
    form.append("file", file.blob, file.name);
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    api.showError("");
    api.announce(`Making ${filename}: the server reads ${file.name} again…`);
    try {
      const response = await fetch(`/ocr?format=${spec.format}`, { method: "POST", headers: api.headers(), body: form });
      if (!response.ok) throw new Error(api.explain(response.status, await response.json().catch(() => null)));
      const blob = await response.blob();
      api.save(filename, blob);
      const kind = response.headers.get("X-OCR-PDF") === "pdfa" ? " (PDF/A)" : "";
      api.announce(`Downloaded ${filename}${kind}.`);
    } catch (error) {
      // fetch itself throws a TypeError when the server cannot be reached.
      api.showError(error instanceof TypeError ? api.explain(0, { error: { message: error.message } }) : error.message);
      api.announce(`Could not make ${filename}.`);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  function fileRow(file, api) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "document-name";
    name.textContent = file.name;
    item.append(name);
    for (const spec of FORMATS) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = spec.label;
      button.dataset.format = spec.format;
      button.setAttribute("aria-label", `${spec.label} of ${file.name}`);
      button.title =
        `Download ${spec.what}. The server reads ${file.name} again (POST /ocr?format=${spec.format}): ` +
        "extra engine calls, one or more per page.";
      button.addEventListener("click", () => downloadDocument(file, spec, button, api));
      item.append(button);
    }
    return item;
  }

  function boxElement(box, width, height) {
    const [x0, y0, x1, y1] = box.box.map((value, index) => Math.min(Math.max(value, 0), index % 2 ? height : width));
    const element = document.createElement("div");
    element.className = "box";
    element.title = box.text;
    // Shares of the image's own size: the boxes follow the image however wide it is shown.
    Object.assign(element.style, {
      left: `${(100 * x0) / width}%`,
      top: `${(100 * y0) / height}%`,
      width: `${(100 * (x1 - x0)) / width}%`,
      height: `${(100 * (y1 - y0)) / height}%`,
    });
    return element;
  }

  async function drawBoxes(file, boxes, version) {
    const image = $("box-image");
    imageUrl = URL.createObjectURL(file.blob);
    image.src = imageUrl;
    image.alt = `${file.name}, with the boxes of the text found`;
    try {
      await image.decode();
    } catch {
      if (version === shown) $("boxes-note").textContent += " This browser cannot show the image to draw them on.";
      return;
    }
    if (version !== shown) return;
    // Boxes come in the pixels of the image as sent, which is the image's natural size here.
    const { naturalWidth: width, naturalHeight: height } = image;
    $("box-layer").replaceChildren(...boxes.map((box) => boxElement(box, width, height)));
    $("box-stage").hidden = false;
    $("show-boxes-row").hidden = false;
  }

  function boxesNote(file, boxes) {
    const count = `${boxes.length} text box${boxes.length === 1 ? "" : "es"} found`;
    if (file.kind === "pdf") {
      // The page has no PDF renderer (no pdf.js from a CDN): say where the boxes are rather than draw them.
      return `${count}. This page shows no preview of PDFs, so they are not drawn; Export JSON holds them.`;
    }
    return `${count}; hover over a box to see its text.`;
  }

  async function showBoxes(file, boxes, version) {
    $("boxes-note").textContent = boxesNote(file, boxes);
    $("boxes-view").hidden = false;
    if (file.kind === "image") await drawBoxes(file, boxes, version);
  }

  // `files`: the files the run read ({name, kind, blob}); `boxes`: the spotting answer's boxes (one file only),
  // or null; `api`: app.js's helpers {headers, explain, announce, showError, save}.
  window.showDocuments = async function showDocuments(files, boxes, api) {
    clearDocuments();
    const version = shown;
    $("document-files").replaceChildren(...files.map((file) => fileRow(file, api)));
    $("documents").hidden = files.length === 0;
    if (boxes && files.length === 1) await showBoxes(files[0], boxes, version);
  };

  function clearDocuments() {
    shown += 1;
    $("documents").hidden = true;
    $("boxes-view").hidden = true;
    $("box-stage").hidden = true;
    $("show-boxes-row").hidden = true;
    $("box-layer").replaceChildren();
    $("box-image").removeAttribute("src");
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = null;
  }
  window.clearDocuments = clearDocuments;

  function showOrHideBoxes() {
    $("box-layer").hidden = !$("show-boxes").checked;
  }

  $("show-boxes").addEventListener("change", showOrHideBoxes);
})();

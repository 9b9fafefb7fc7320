// A small, safe renderer for the model's output: Markdown (headings, lists, code, pipe tables, bold, inline
// code), HTML tables (HunyuanOCR writes tables as HTML) and JSON. It builds DOM nodes and only ever sets
// text with textContent: model text is never parsed as live HTML. HTML tables are read with DOMParser (an
// inert document: no scripts run, nothing loads) and rebuilt from their cells' text.
"use strict";

(function () {
  const FENCE = /^\s*```/;
  const HEADING = /^(#{1,6})\s+(.*)$/;
  const LIST_ITEM = /^\s*([-*+]|\d+[.)])\s+(.*)$/;
  const PIPE_SEPARATOR = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
  const MATH_FENCE = /^\s*\$\$\s*$/;

  function element(tag, text) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // **bold** and `code`; everything else is plain text.
  function appendInline(parent, text) {
    for (const piece of text.split(/(`[^`]+`|\*\*[^*]+\*\*)/)) {
      if (!piece) continue;
      if (piece.startsWith("`") && piece.endsWith("`") && piece.length > 1) {
        parent.append(element("code", piece.slice(1, -1)));
      } else if (piece.startsWith("**") && piece.endsWith("**") && piece.length > 4) {
        parent.append(element("strong", piece.slice(2, -2)));
      } else {
        parent.append(document.createTextNode(piece));
      }
    }
  }

  function wrapTable(table) {
    const wrap = element("div");
    wrap.className = "table-wrap";
    wrap.append(table);
    return wrap;
  }

  function pipeCells(line) {
    let row = line.trim();
    if (row.startsWith("|")) row = row.slice(1);
    if (row.endsWith("|")) row = row.slice(0, -1);
    return row.split("|").map((cell) => cell.trim());
  }

  function pipeTable(lines) {
    const table = element("table");
    const head = element("thead");
    const headRow = element("tr");
    for (const cell of pipeCells(lines[0])) appendInline(headRow.appendChild(element("th")), cell);
    head.append(headRow);
    const body = element("tbody");
    for (const line of lines.slice(2)) {
      const row = element("tr");
      for (const cell of pipeCells(line)) appendInline(row.appendChild(element("td")), cell);
      body.append(row);
    }
    table.append(head, body);
    return wrapTable(table);
  }

  function spanOf(cell, name) {
    const value = parseInt(cell.getAttribute(name) || "1", 10);
    return Number.isFinite(value) && value > 1 ? String(Math.min(value, 1000)) : null;
  }

  function htmlTables(html) {
    const parsed = new DOMParser().parseFromString(html, "text/html");
    return Array.from(parsed.querySelectorAll("table")).map((source) => {
      const table = element("table");
      const body = element("tbody");
      for (const sourceRow of source.querySelectorAll("tr")) {
        const row = element("tr");
        for (const sourceCell of sourceRow.children) {
          const tag = sourceCell.tagName === "TH" ? "th" : "td";
          if (sourceCell.tagName !== "TH" && sourceCell.tagName !== "TD") continue;
          const cell = element(tag, sourceCell.textContent.trim());
          for (const name of ["colspan", "rowspan"]) {
            const span = spanOf(sourceCell, name);
            if (span) cell.setAttribute(name, span);
          }
          row.append(cell);
        }
        body.append(row);
      }
      table.append(body);
      return wrapTable(table);
    });
  }

  // Collects lines from `start` while `more(line)` holds; returns [lines, next index].
  function takeWhile(lines, start, more) {
    let end = start;
    while (end < lines.length && more(lines[end], end)) end += 1;
    return [lines.slice(start, end), end];
  }

  function renderBlocks(text, container) {
    const lines = text.replace(/\r\n?/g, "\n").split("\n");
    let index = 0;
    while (index < lines.length) {
      const line = lines[index];
      let block;
      if (!line.trim()) {
        index += 1;
        continue;
      }
      if (FENCE.test(line) || MATH_FENCE.test(line)) {
        const closing = FENCE.test(line) ? FENCE : MATH_FENCE;
        [block, index] = takeWhile(lines, index + 1, (next) => !closing.test(next));
        container.append(element("pre", block.join("\n")));
        index += 1; // the closing fence
      } else if (/<table[\s>]/i.test(line)) {
        [block, index] = takeWhile(lines, index, (next, at) => at === index || !/<\/table>/i.test(lines[at - 1]));
        const tables = htmlTables(block.join("\n"));
        container.append(...(tables.length ? tables : [element("pre", block.join("\n"))]));
      } else if (HEADING.test(line)) {
        const [, hashes, title] = line.match(HEADING);
        appendInline(container.appendChild(element(`h${Math.min(hashes.length + 2, 6)}`)), title);
        index += 1;
      } else if (line.includes("|") && index + 1 < lines.length && PIPE_SEPARATOR.test(lines[index + 1])) {
        [block, index] = takeWhile(lines, index, (next, at) => at < index + 2 || next.includes("|"));
        container.append(pipeTable(block));
      } else if (LIST_ITEM.test(line)) {
        [block, index] = takeWhile(lines, index, (next) => LIST_ITEM.test(next));
        const list = element(/^\s*\d/.test(line) ? "ol" : "ul");
        for (const item of block) appendInline(list.appendChild(element("li")), item.match(LIST_ITEM)[2]);
        container.append(list);
      } else {
        [block, index] = takeWhile(
          lines,
          index,
          (next, at) =>
            at === index ||
            (next.trim() && !HEADING.test(next) && !FENCE.test(next) && !LIST_ITEM.test(next) && !/<table/i.test(next)),
        );
        const paragraph = element("p");
        block.forEach((part, at) => {
          if (at) paragraph.append(element("br"));
          appendInline(paragraph, part);
        });
        container.append(paragraph);
      }
    }
  }

  function asJson(text) {
    const body = text.trim().replace(/^```(?:json)?\s*|\s*```$/g, "");
    if (!/^[[{]/.test(body)) return null;
    try {
      return JSON.parse(body);
    } catch {
      return null;
    }
  }

  /** Replaces `container`'s content with `text` rendered (JSON pretty-printed, else Markdown/HTML tables). */
  window.renderResult = function renderResult(text, container) {
    container.replaceChildren();
    const json = asJson(text);
    if (json !== null) {
      container.append(element("pre", JSON.stringify(json, null, 2)));
      return;
    }
    renderBlocks(text, container);
  };
})();

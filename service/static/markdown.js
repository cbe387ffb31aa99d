// A small Markdown renderer for the twin's replies. It builds DOM nodes directly (createElement and
// text nodes, never innerHTML), so HTML written by the model is shown as text and cannot run.
// Covers what chat models write: paragraphs (single newlines kept as line breaks), headings,
// bullet/numbered lists with nesting, block quotes, fenced code, pipe tables, rules, **bold**,
// *italic*, ~~strike~~, `code`, [links](https://...) and bare URLs. Links go only to http(s) and
// mailto, open in a new tab with rel="noopener noreferrer"; images are shown as links (nothing
// is loaded from elsewhere).
"use strict";

const TwinMarkdown = (() => {
  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
  const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
  const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
  const QUOTE = /^ {0,3}> ?(.*)$/;
  const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:\s+(.*))?$/;
  const TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$/;
  const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

  function el(tag, ...children) {
    const node = document.createElement(tag);
    for (const child of children) node.append(child);
    return node;
  }

  function safeUrl(raw) {
    try {
      const url = new URL(raw.trim());
      return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
    } catch {
      return null; // relative or malformed: shown as text
    }
  }

  function link(href, label) {
    const a = el("a");
    a.href = href;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    if (typeof label === "string") a.textContent = label; else a.append(label);
    return a;
  }

  // --- Blocks ---------------------------------------------------------------------------------

  function isBlockStart(line) {
    return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
  }

  function splitRow(line) {
    let row = line.trim();
    if (row.startsWith("|")) row = row.slice(1);
    if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
    const cells = [];
    let cell = "";
    for (let i = 0; i < row.length; i++) {
      if (row[i] === "\\" && row[i + 1] === "|") { cell += "|"; i++; continue; }
      if (row[i] === "|") { cells.push(cell.trim()); cell = ""; continue; }
      cell += row[i];
    }
    cells.push(cell.trim());
    return cells;
  }

  function table(lines, start) {
    const head = splitRow(lines[start]);
    const aligns = splitRow(lines[start + 1]).map((spec) =>
      spec.startsWith(":") && spec.endsWith(":") ? "center" : spec.endsWith(":") ? "right" : spec.startsWith(":") ? "left" : "");
    const row = (cells, tag) => {
      const tr = el("tr");
      head.forEach((_, i) => {
        const cell = el(tag);
        if (aligns[i]) cell.style.textAlign = aligns[i];
        inline(cells[i] || "", cell);
        tr.append(cell);
      });
      return tr;
    };
    const body = el("tbody");
    let i = start + 2;
    for (; i < lines.length && lines[i].includes("|") && lines[i].trim(); i++) body.append(row(splitRow(lines[i]), "td"));
    const wrap = el("div", el("table", el("thead", row(head, "th")), body));
    wrap.className = "table";
    return [wrap, i];
  }

  function list(lines, start) {
    const first = lines[start].match(ITEM);
    const ordered = /\d/.test(first[2]);
    const marker = first[2].slice(-1); // "-", "*", "+", "." or ")": another marker starts another list
    const node = el(ordered ? "ol" : "ul");
    if (ordered && parseInt(first[2], 10) !== 1) node.start = parseInt(first[2], 10);
    const indent = first[1].length;
    let i = start;
    let loose = false;
    while (i < lines.length) {
      const m = lines[i].match(ITEM);
      if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered || m[2].slice(-1) !== marker) break;
      const contentIndent = indent + m[2].length + 1;
      const body = [m[3] || ""];
      i++;
      for (; i < lines.length; i++) {
        const line = lines[i];
        if (!line.trim()) {
          const next = lines.slice(i + 1).find((l) => l.trim());
          if (next === undefined || leadingSpaces(next) < contentIndent) break;
          body.push("");
          continue;
        }
        const lead = leadingSpaces(line);
        if (lead >= Math.min(contentIndent, indent + 2)) { body.push(line.slice(Math.min(lead, contentIndent))); continue; }
        if (body[body.length - 1] !== "" && !isBlockStart(line)) { body.push(line.trim()); continue; } // lazy continuation
        break;
      }
      if (body.includes("")) loose = true;
      const li = el("li");
      blocks(body, li, !loose);
      node.append(li);
      // blank lines between items keep the list going
      let j = i;
      while (j < lines.length && !lines[j].trim()) j++;
      if (j > i && j < lines.length && (lines[j].match(ITEM) || [])[1]?.length === indent) { loose = true; i = j; }
    }
    return [node, i];
  }

  function leadingSpaces(line) {
    return line.length - line.replace(/^ +/, "").length;
  }

  // Renders `lines` as blocks into `parent`. `tight`: a lone paragraph is written without <p>.
  function blocks(lines, parent, tight = false) {
    const start = parent.childNodes.length;
    let paragraphs = 0;
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) { i++; continue; }
      let m;
      if ((m = line.match(FENCE))) {
        const fence = m[1];
        const code = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) code.push(lines[i]);
        i++; // the closing fence (absent while a reply is still streaming)
        const block = el("code", code.join("\n"));
        if (m[2]) block.className = "language-" + m[2].replace(/[^\w+-]/g, "");
        parent.append(el("pre", block));
      } else if ((m = line.match(HEADING)) && m[2] !== undefined) {
        const heading = el("h" + Math.min(6, m[1].length + 2)); // the page owns h1/h2
        inline(m[2], heading);
        parent.append(heading);
        i++;
      } else if (RULE.test(line)) {
        parent.append(el("hr"));
        i++;
      } else if (QUOTE.test(line)) {
        const quoted = [];
        for (; i < lines.length && (m = lines[i].match(QUOTE)); i++) quoted.push(m[1]);
        const quote = el("blockquote");
        blocks(quoted, quote);
        parent.append(quote);
      } else if (ITEM.test(line) && (line.match(ITEM)[3] || lines[i + 1]?.startsWith(" "))) {
        const [node, next] = list(lines, i);
        parent.append(node);
        i = next;
      } else if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]) && lines[i + 1].includes("-")) {
        const [node, next] = table(lines, i);
        parent.append(node);
        i = next;
      } else {
        const text = [line.trim()];
        for (i++; i < lines.length && lines[i].trim() && !isBlockStart(lines[i]); i++) {
          if (lines[i].includes("|") && TABLE_RULE.test(lines[i + 1] || "")) break;
          text.push(lines[i].trim());
        }
        const p = el("p");
        inline(text.join("\n"), p);
        parent.append(p);
        paragraphs++;
      }
    }
    // A tight list item holding one paragraph: unwrap it (the item reads as a line, not a block).
    if (tight && paragraphs >= 1) {
      for (const p of Array.from(parent.childNodes).slice(start)) {
        if (p.nodeName === "P") p.replaceWith(...p.childNodes);
      }
    }
  }

  // --- Inline ---------------------------------------------------------------------------------

  const PUNCT = /[!-\/:-@\[-`{-~]/;

  // Where `delim` closes an emphasis opened before `from`, skipping code spans and escapes; -1 if not.
  function findClose(text, delim, from) {
    for (let i = from; i < text.length; i++) {
      const ch = text[i];
      if (ch === "\\") { i++; continue; }
      if (ch === "`") {
        const run = text.slice(i).match(/^`+/)[0];
        const end = text.indexOf(run, i + run.length);
        if (end > 0) { i = end + run.length - 1; continue; }
      }
      if (text.startsWith(delim, i) && i > from && !/\s/.test(text[i - 1])) {
        const after = text[i + delim.length] || "";
        if (delim[0] === "_" && /[\p{L}\p{N}]/u.test(after)) continue; // snake_case is not emphasis
        if (delim.length === 1 && text[i + 1] === delim) { i++; continue; } // part of a longer run
        return i;
      }
    }
    return -1;
  }

  function emphasis(text, i, out, flush) {
    const ch = text[i];
    const run = text.slice(i).match(ch === "~" ? /^~+/ : ch === "*" ? /^\*+/ : /^_+/)[0];
    if (ch === "_" && i > 0 && /[\p{L}\p{N}]/u.test(text[i - 1])) return 0;
    if (/\s/.test(text[i + run.length] || " ")) return 0;
    const tries = ch === "~" ? [["~~", "del"]] : run.length >= 3
      ? [[ch.repeat(3), "strong+em"], [ch.repeat(2), "strong"], [ch, "em"]]
      : run.length === 2 ? [[ch.repeat(2), "strong"]] : [[ch, "em"]];
    for (const [delim, tag] of tries) {
      const close = findClose(text, delim, i + delim.length);
      if (close < 0) continue;
      flush();
      const inner = text.slice(i + delim.length, close);
      let node;
      if (tag === "strong+em") { const em = el("em"); inline(inner, em); node = el("strong", em); }
      else { node = el(tag); inline(inner, node); }
      out.append(node);
      return close + delim.length - i;
    }
    return 0;
  }

  // [label](url) starting at i; returns the characters used, 0 if it is not a link.
  function bracketLink(text, i, out, flush, image) {
    const open = i + (image ? 1 : 0);
    let depth = 0;
    let close = -1;
    for (let j = open; j < text.length; j++) {
      if (text[j] === "\\") { j++; continue; }
      if (text[j] === "[") depth++;
      if (text[j] === "]" && --depth === 0) { close = j; break; }
    }
    if (close < 0 || text[close + 1] !== "(") return 0;
    depth = 0;
    let end = -1;
    for (let j = close + 1; j < text.length; j++) {
      if (text[j] === "(") depth++;
      if (text[j] === ")" && --depth === 0) { end = j; break; }
    }
    if (end < 0) return 0;
    const label = text.slice(open + 1, close);
    const target = text.slice(close + 2, end).trim().replace(/\s+"[^"]*"$/, "").replace(/^<(.*)>$/, "$1");
    const href = safeUrl(target);
    flush();
    if (href) {
      const a = link(href, "");
      inline(label || target, a);
      out.append(a);
    } else {
      inline(label, out); // an unsafe or relative target: keep the words, drop the link
    }
    return end + 1 - i;
  }

  function bareUrl(text, i, out, flush) {
    if (i > 0 && /[\p{L}\p{N}]/u.test(text[i - 1])) return 0;
    const m = text.slice(i).match(/^(?:https?:\/\/|mailto:)[^\s<>"]+/i);
    if (!m) return 0;
    let url = m[0].replace(/[.,;:!?'*_~]+$/, "");
    while (url.endsWith(")") && (url.match(/\(/g) || []).length < (url.match(/\)/g) || []).length) url = url.slice(0, -1);
    const href = safeUrl(url);
    if (!href) return 0;
    flush();
    out.append(link(href, url));
    return url.length;
  }

  // Renders inline Markdown `text` into `out`; newlines become <br>.
  function inline(text, out) {
    let buffer = "";
    const flush = () => { if (buffer) { out.append(document.createTextNode(buffer)); buffer = ""; } };
    let i = 0;
    while (i < text.length) {
      const ch = text[i];
      let used = 0;
      if (ch === "\\" && PUNCT.test(text[i + 1] || "")) { buffer += text[i + 1]; i += 2; continue; }
      if (ch === "\n") { flush(); out.append(el("br")); i++; continue; }
      if (ch === "`") {
        const run = text.slice(i).match(/^`+/)[0];
        const end = text.indexOf(run, i + run.length);
        if (end > 0) {
          flush();
          let code = text.slice(i + run.length, end).replace(/\n/g, " ");
          if (/^ .* $/.test(code)) code = code.slice(1, -1);
          out.append(el("code", code));
          i = end + run.length;
          continue;
        }
        buffer += run;
        i += run.length;
        continue;
      }
      if (ch === "*" || ch === "_" || (ch === "~" && text[i + 1] === "~")) used = emphasis(text, i, out, flush);
      else if (ch === "[") used = bracketLink(text, i, out, flush, false);
      else if (ch === "!" && text[i + 1] === "[") used = bracketLink(text, i, out, flush, true);
      else if (ch === "<") {
        const m = text.slice(i).match(/^<((?:https?:\/\/|mailto:)[^\s<>]+)>/i);
        const href = m && safeUrl(m[1]);
        if (href) { flush(); out.append(link(href, m[1])); used = m[0].length; }
      } else if (ch === "h" || ch === "H" || ch === "m" || ch === "M") used = bareUrl(text, i, out, flush);
      if (used) { i += used; continue; }
      buffer += ch;
      i++;
    }
    flush();
  }

  function render(text) {
    const fragment = document.createDocumentFragment();
    blocks(String(text).replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n"), fragment);
    return fragment;
  }

  return { render };
})();

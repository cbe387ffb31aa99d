// The twin's web chat: streams replies from /v1/chat/completions (server-sent events), renders them
// as Markdown and shows the memories each reply used. Plain browser JavaScript, nothing loaded from
// elsewhere. The conversation (one per mode) is kept in localStorage until "New conversation".
//
// Rules that keep a conversation honest: one request at a time; a message that fails is taken
// out of the conversation and put back in the input box, never resent on its own; a reply that
// is stopped keeps what arrived, and one stopped before any word leaves nothing behind.
"use strict";

const { t } = TwinText;
const $ = (id) => document.getElementById(id);
const log = $("log");
const form = $("composer");
const input = $("input");
const sendButton = $("send");
const stopButton = $("stop");
const notice = $("notice");
const announcer = $("announcer");
const keyRow = $("key-row");
const keyInput = $("api-key");
const keyHint = $("key-hint");

const models = { chat: "twin", writer: "twin-writer" };
let mode = "chat";
let turns = loadTurns(mode); // [{role: "user"|"assistant", content, memories?, stopped?}]
let busy = null; // the AbortController of the request in flight
const key = { needed: false, accepted: false, asked: false }; // asked: /v1/models has answered (or failed)

// --- Storage ------------------------------------------------------------------------------------

function storageKey(forMode) {
  return "twin-conversation-" + forMode;
}

function loadTurns(forMode) {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey(forMode)) || "[]");
    return Array.isArray(saved) ? saved.filter((turn) => turn && typeof turn.content === "string") : [];
  } catch {
    return []; // a damaged entry is dropped rather than breaking the page
  }
}

function saveTurns() {
  if (turns.length) localStorage.setItem(storageKey(mode), JSON.stringify(turns));
  else localStorage.removeItem(storageKey(mode));
}

// --- Drawing the conversation ------------------------------------------------------------------

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 120;
}

function toBottom() {
  log.scrollTop = log.scrollHeight;
}

// The view follows a growing reply until the reader scrolls up; scrolling back down resumes it.
// (Growth fires no scroll event, so only the reader's own scrolling changes this.)
let following = true;
log.addEventListener("scroll", () => { following = nearBottom(); });

function button(label, className, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = t(label);
  b.dataset.i18n = label;
  b.addEventListener("click", onClick);
  return b;
}

function userView(text) {
  const div = document.createElement("div");
  div.className = "turn user";
  div.textContent = text; // the person's own words are shown as typed, not as Markdown
  return div;
}

// An assistant reply: the bubble, its actions (copy, regenerate) and the memories it used.
function replyView(turn) {
  const wrap = document.createElement("div");
  wrap.className = "reply";
  const bubble = document.createElement("div");
  bubble.className = "turn assistant";
  const body = document.createElement("div");
  body.className = "body";
  bubble.append(body);
  const actions = document.createElement("div");
  actions.className = "actions";
  let shown = turn; // the turn this bubble shows; a streamed reply gets its own at the end
  const copy = button("copy", "copy", () => copyText(shown.content, copy));
  const again = button("regenerate", "regenerate", () => regenerate());
  actions.append(copy, again);
  wrap.append(bubble, actions);
  const view = {
    wrap, bubble, body,
    show(content) {
      body.replaceChildren(TwinMarkdown.render(content));
    },
    typing() {
      const dots = document.createElement("span");
      dots.className = "typing";
      dots.setAttribute("role", "img");
      dots.setAttribute("aria-label", t("typing"));
      dots.append(document.createElement("i"), document.createElement("i"), document.createElement("i"));
      body.replaceChildren(dots);
      bubble.classList.add("streaming");
    },
    finish(done) {
      shown = done;
      bubble.classList.remove("streaming");
      bubble.classList.add("done");
      if (done.stopped) {
        const mark = document.createElement("span");
        mark.className = "stopped";
        mark.dataset.i18n = "stopped";
        mark.textContent = t("stopped");
        actions.prepend(mark);
      }
      const memories = memoriesView(done.memories);
      if (memories) wrap.append(memories);
    },
  };
  if (turn.content) view.show(turn.content);
  return view;
}

function memoriesView(memories) {
  if (!memories || memories.length === 0) return null;
  const details = document.createElement("details");
  details.className = "memories"; // closed: a count and dates, the texts one click away
  const summary = document.createElement("summary");
  const dates = memories.map((m) => m.date).filter(Boolean).sort();
  const span = dates.length ? ` · ${dates[0]}${dates[dates.length - 1] !== dates[0] ? " – " + dates[dates.length - 1] : ""}` : "";
  summary.textContent = t("memories", { n: memories.length }) + span;
  const list = document.createElement("ol");
  for (const m of memories) {
    const item = document.createElement("li");
    const meta = document.createElement("span");
    meta.className = "meta";
    const who = m.participants && m.participants.length ? ` · ${t("with")} ${m.participants.join(", ")}` : "";
    meta.textContent = `${m.date} · ${m.source || m.kind}${who} · ${t("score")} ${Number(m.score).toFixed(3)}`;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text.length > 400 ? m.text.slice(0, 400) + "…" : m.text;
    item.append(meta, text);
    list.append(item);
  }
  details.append(summary, list);
  return details;
}

function drawConversation() {
  log.replaceChildren();
  for (const turn of turns) {
    if (turn.role === "user") log.append(userView(turn.content));
    else {
      const view = replyView(turn);
      view.finish(turn);
      log.append(view.wrap);
    }
  }
  if (!turns.length) {
    const hint = document.createElement("p");
    hint.className = "empty";
    hint.dataset.i18n = "empty";
    hint.textContent = t("empty");
    log.append(hint);
  }
  markLastReply();
  toBottom();
}

// Only the newest reply can be regenerated.
function markLastReply() {
  const replies = log.querySelectorAll(".reply");
  replies.forEach((r, i) => r.classList.toggle("last", i === replies.length - 1));
}

async function copyText(text, from) {
  try {
    await navigator.clipboard.writeText(text);
  } catch { // no clipboard API outside https/localhost: the old way
    const area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  from.textContent = t("copied");
  setTimeout(() => { from.textContent = t("copy"); }, 1500);
}

// --- State of the page -------------------------------------------------------------------------

function setNotice(text) {
  notice.textContent = text || "";
}

function refreshControls() {
  const state = busy ? "busy" : !key.asked ? "loading" : key.needed && !key.accepted ? "needs-key" : "ready";
  document.body.dataset.state = state;
  sendButton.hidden = Boolean(busy);
  stopButton.hidden = !busy;
  sendButton.disabled = state === "needs-key" || state === "loading";
  for (const radio of document.querySelectorAll('input[name="mode"]')) radio.disabled = Boolean(busy);
  input.placeholder = t(mode === "writer" ? "placeholderWriter" : "placeholderChat");
  input.dataset.i18nPlaceholder = mode === "writer" ? "placeholderWriter" : "placeholderChat";
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (keyInput.value.trim()) h.Authorization = "Bearer " + keyInput.value.trim();
  return h;
}

function showKeyState(state) {
  keyRow.hidden = !key.needed || state === "keyAccepted"; // once accepted it is out of the way; a refusal brings it back
  keyHint.dataset.i18n = state;
  keyHint.textContent = t(state);
  keyHint.className = state;
  refreshControls();
}

// Asks /v1/models once without a key: 401 means this twin wants one. A key kept from earlier in
// this browser session is then checked the same way.
async function probe() {
  try {
    await askModels();
  } finally {
    key.asked = true;
    refreshControls();
  }
}

async function askModels() {
  try {
    const open = await fetch("/v1/models");
    if (open.ok) {
      key.needed = false;
      await takeModels(open);
      showKeyState("keyAccepted");
      return;
    }
    if (open.status !== 401) throw new Error("status " + open.status);
    key.needed = true;
    if (keyInput.value.trim()) await checkKey(); else showKeyState("keyNeeded");
  } catch {
    setNotice(t("offline"));
    refreshControls();
  }
}

async function checkKey() {
  if (!keyInput.value.trim()) { key.accepted = false; showKeyState("keyNeeded"); return; }
  if (!/^[\x21-\x7e]+$/.test(keyInput.value.trim())) { // keys are ASCII; a header cannot carry anything else
    key.accepted = false;
    showKeyState("keyRejected");
    return;
  }
  showKeyState("keyChecking");
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    key.accepted = response.ok;
    if (response.ok) {
      sessionStorage.setItem("twin-key", keyInput.value.trim());
      await takeModels(response);
      setNotice("");
    } else {
      sessionStorage.removeItem("twin-key");
    }
    showKeyState(response.ok ? "keyAccepted" : "keyRejected");
  } catch {
    setNotice(t("offline"));
    showKeyState("keyNeeded");
  }
}

async function takeModels(response) {
  const body = await response.json();
  for (const card of body.data) models[card.twin_mode === "writer" ? "writer" : "chat"] = card.id;
  $("title").textContent = models.chat;
}

// --- Talking to the service --------------------------------------------------------------------

class ReplyError extends Error {
  constructor(message, { keyProblem = false } = {}) {
    super(message);
    this.keyProblem = keyProblem;
  }
}

async function replyError(response) {
  let code = null;
  try { code = (await response.json()).error.code; } catch { /* not our JSON: the status is enough */ }
  if (response.status === 401) return new ReplyError(t("keyRejected"), { keyProblem: true });
  if (code === "context_length_exceeded" || response.status === 413) return new ReplyError(t("tooLong"));
  if (response.status === 503) return new ReplyError(code === "memory_store_error" || code === "unavailable" ? t("notReady") : t("offline"));
  if (response.status === 502 || response.status === 504) return new ReplyError(t("modelDown"));
  return new ReplyError(t("failed", { status: response.status }));
}

// Reads "data: {...}" events from a fetch body; true when the stream ended with [DONE].
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") { reader.cancel().catch(() => {}); return true; }
        onEvent(JSON.parse(data));
      }
    }
  }
}

// Streams a reply to `turns` (which ends with the user's turn) into a new bubble. Resolves to
// {content, memories, stopped} or throws a ReplyError; the bubble is removed unless a reply came.
async function streamReply() {
  const view = replyView({ content: "" });
  log.querySelector(".empty")?.remove();
  log.append(view.wrap);
  view.typing();
  following = true;
  toBottom();
  const controller = new AbortController();
  busy = controller;
  refreshControls();
  let content = "";
  let memories = null;
  let drawPending = false;
  const draw = () => {
    drawPending = false;
    view.show(content);
    if (following) toBottom();
  };
  try {
    let response;
    try {
      response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: headers(),
        signal: controller.signal,
        body: JSON.stringify({
          model: models[mode],
          messages: turns.map(({ role, content: text }) => ({ role, content: text })),
          stream: true,
          twin_include_memories: true,
        }),
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ReplyError(t("offline"));
    }
    if (!response.ok) throw await replyError(response);
    let finished;
    try {
      finished = await readEvents(response.body, (event) => {
        if (event.error) throw new ReplyError(event.error.code === "backend_error" ? t("modelDown") : t("failed", { status: event.error.code || "stream" }));
        if (event.twin_memories) memories = event.twin_memories;
        for (const choice of event.choices || []) {
          if (choice.delta && choice.delta.content) {
            content += choice.delta.content;
            if (!drawPending) { drawPending = true; requestAnimationFrame(draw); }
          }
        }
      });
    } catch (err) {
      if (err instanceof ReplyError || err.name === "AbortError") throw err;
      throw new ReplyError(t("offline")); // the connection broke mid-reply
    }
    if (!finished) throw new ReplyError(t("offline"));
    view.show(content);
    return { view, reply: { role: "assistant", content, memories } };
  } catch (err) {
    if (err.name === "AbortError" && content) {
      view.show(content);
      return { view, reply: { role: "assistant", content, memories, stopped: true } };
    }
    view.wrap.remove();
    throw err;
  } finally {
    busy = null;
  }
}

function keepReply({ view, reply }) {
  turns.push(reply);
  saveTurns();
  view.finish(reply);
  markLastReply();
  if (following) toBottom();
  announcer.textContent = view.body.innerText; // read once, when the reply is complete
}

// Puts a message that did not go through back in the box (before anything typed meanwhile).
function giveBack(text) {
  const typed = input.value.trim();
  input.value = typed && typed !== text ? text + "\n" + typed : text;
}

function explain(err) {
  if (err.name === "AbortError") return; // stopped before any word: nothing to say
  setNotice(err.message + (err.keepsText ? " " + t("keptForRetry") : ""));
  if (err.keyProblem) {
    key.needed = true;
    key.accepted = false;
    showKeyState("keyRejected");
    keyInput.focus();
  }
}

async function send(text) {
  if (busy || !text.trim()) return;
  setNotice("");
  turns.push({ role: "user", content: text });
  const mine = userView(text);
  log.querySelector(".empty")?.remove();
  log.append(mine);
  input.value = "";
  input.focus();
  const conversation = turns; // "New conversation" during the reply replaces it: then nothing is kept
  try {
    const result = await streamReply();
    if (turns === conversation) keepReply(result);
  } catch (err) {
    if (turns !== conversation) return;
    turns.pop(); // the question goes back to the box, out of the conversation
    mine.remove();
    giveBack(text);
    err.keepsText = err.name !== "AbortError";
    explain(err);
    if (!log.children.length) drawConversation();
  } finally {
    refreshControls();
    if (!keyRow.contains(document.activeElement)) input.focus();
  }
}

async function regenerate() {
  if (busy || !turns.length || turns[turns.length - 1].role !== "assistant") return;
  setNotice("");
  const previous = turns.pop();
  const old = log.querySelector(".reply.last");
  old.hidden = true;
  const conversation = turns;
  try {
    const result = await streamReply();
    if (turns !== conversation) return;
    keepReply(result);
    old.remove();
  } catch (err) {
    if (turns !== conversation) return;
    turns.push(previous); // nothing new came: the earlier reply stays
    old.hidden = false;
    explain(err);
  } finally {
    refreshControls();
  }
}

// --- Wiring ------------------------------------------------------------------------------------

form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (sendButton.disabled) return;
  send(input.value.trim());
});

input.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.shiftKey) return; // Shift+Enter: a new line
  if (e.isComposing || e.keyCode === 229) return; // this Enter picks an input-method candidate
  e.preventDefault();
  if (!busy && !sendButton.disabled) form.requestSubmit();
});

stopButton.addEventListener("click", () => {
  if (busy) busy.abort(); // the service stops generating when the connection closes
  input.focus();
});

$("new-chat").addEventListener("click", () => {
  if (busy) busy.abort();
  turns = [];
  saveTurns();
  setNotice("");
  announcer.textContent = "";
  drawConversation();
  input.focus();
});

$("lang").addEventListener("click", () => {
  TwinText.toggle();
  refreshControls();
  if (!busy) drawConversation(); // memory summaries and dates in the new language
});

for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.checked = radio.value === mode;
  radio.addEventListener("change", () => {
    mode = radio.value; // each mode has its own conversation: a post is not a continuation of a chat
    turns = loadTurns(mode);
    setNotice("");
    drawConversation();
    refreshControls();
  });
}

keyInput.value = sessionStorage.getItem("twin-key") || "";
keyInput.addEventListener("change", checkKey);
keyInput.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); checkKey(); }
});

TwinText.apply();
drawConversation();
refreshControls();
probe();

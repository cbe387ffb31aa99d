// The twin's web chat: streams replies from /v1/chat/completions (server-sent events) and shows
// the memories each reply used. Plain browser JavaScript; nothing is loaded from elsewhere.
"use strict";

const log = document.getElementById("log");
const form = document.getElementById("composer");
const input = document.getElementById("input");
const send = document.getElementById("send");
const status = document.getElementById("status");
const keyInput = document.getElementById("api-key");
const history = []; // {role, content} turns of the current mode
let models = { chat: "twin", writer: "twin-writer" };
let mode = "chat";

keyInput.value = sessionStorage.getItem("twin-key") || "";
keyInput.addEventListener("change", () => { sessionStorage.setItem("twin-key", keyInput.value); loadModels(); });

for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", () => {
    mode = radio.value;
    history.length = 0; // a post is not a continuation of the chat
    log.replaceChildren();
    input.placeholder = mode === "writer" ? "Topic of the post" : "Say something to your twin";
  });
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (keyInput.value) h.Authorization = "Bearer " + keyInput.value;
  return h;
}

async function loadModels() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) { status.textContent = "Enter the API key to chat."; return; }
  const body = await response.json();
  for (const card of body.data) models[card.twin_mode === "writer" ? "writer" : "chat"] = card.id;
  document.getElementById("title").textContent = models.chat;
  status.textContent = "";
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = "turn " + role;
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

function showMemories(memories) {
  if (!memories || memories.length === 0) return;
  const details = document.createElement("details");
  details.className = "memories";
  details.open = true;
  const summary = document.createElement("summary");
  summary.textContent = `${memories.length} memor${memories.length === 1 ? "y" : "ies"} used`;
  const list = document.createElement("ol");
  for (const m of memories) {
    const item = document.createElement("li");
    const meta = document.createElement("span");
    meta.className = "meta";
    const who = m.participants.length ? " · with " + m.participants.join(", ") : "";
    meta.textContent = `${m.date} · ${m.source || m.kind}${who} · score ${m.score.toFixed(3)}`;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text.length > 400 ? m.text.slice(0, 400) + "…" : m.text;
    item.append(meta, text);
    list.appendChild(item);
  }
  details.append(summary, list);
  log.appendChild(details);
}

async function errorText(response) {
  try { return (await response.json()).error.message; } catch { return response.status + " " + response.statusText; }
}

// Reads "data: {...}" events from a fetch body and calls onEvent for each parsed JSON event.
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        onEvent(JSON.parse(data));
      }
    }
  }
}

async function ask(text) {
  history.push({ role: "user", content: text });
  bubble("user", text);
  const reply = bubble("assistant", "");
  reply.classList.add("streaming");
  let memories = null;
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({ model: models[mode], messages: history, stream: true, twin_include_memories: true }),
  });
  if (!response.ok) {
    reply.remove();
    history.pop();
    bubble("error", await errorText(response));
    return;
  }
  await readEvents(response.body, (event) => {
    if (event.error) throw new Error(event.error.message);
    if (event.twin_memories) memories = event.twin_memories;
    for (const choice of event.choices || []) {
      if (choice.delta && choice.delta.content) {
        reply.textContent += choice.delta.content;
        log.scrollTop = log.scrollHeight;
      }
    }
  });
  reply.classList.remove("streaming");
  reply.classList.add("done");
  history.push({ role: "assistant", content: reply.textContent });
  showMemories(memories);
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  send.disabled = true;
  status.textContent = "…";
  try {
    await ask(text);
    status.textContent = "";
  } catch (err) {
    bubble("error", String(err.message || err));
    status.textContent = "";
  } finally {
    send.disabled = false;
    input.focus();
  }
});

input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});

loadModels();

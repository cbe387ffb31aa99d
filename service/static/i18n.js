// The page's words in English and Chinese. The language comes from the switch (remembered in
// localStorage), else from the browser's preferred languages.
"use strict";

const TwinText = (() => {
  const STRINGS = {
    en: {
      switchTo: "中文",
      switchLabel: "切换到中文",
      mode: "Mode",
      modeChat: "Chat",
      modeWriter: "Write a post",
      newChat: "New conversation",
      keyLabel: "Access key",
      keyNeeded: "This twin needs a key to chat. Ask its owner for one.",
      keyChecking: "Checking the key…",
      keyAccepted: "Key accepted.",
      keyRejected: "This key is not accepted.",
      conversation: "Conversation",
      inputLabel: "Message",
      placeholderChat: "Say something to your twin",
      placeholderWriter: "Topic of the post",
      send: "Send",
      stop: "Stop",
      copy: "Copy",
      copied: "Copied",
      regenerate: "Regenerate",
      typing: "Writing…",
      stopped: "Stopped",
      empty: "Start the conversation below. It stays in this browser until you start a new one.",
      offline: "The twin is offline. Try again in a moment.",
      notReady: "The twin is not ready yet. Try again in a moment.",
      modelDown: "The twin's model is not answering. Try again in a moment.",
      tooLong: "This message is too long for the twin. Try a shorter one.",
      failed: "Something went wrong ({status}). Try again.",
      keptForRetry: "Your message is back in the box to send again.",
      memories: (n) => `${n} ${n === 1 ? "memory" : "memories"} used`,
      with: "with",
      score: "score",
    },
    zh: {
      switchTo: "English",
      switchLabel: "Switch to English",
      mode: "模式",
      modeChat: "聊天",
      modeWriter: "写一篇帖子",
      newChat: "新对话",
      keyLabel: "访问密钥",
      keyNeeded: "需要密钥才能聊天，请向分身的主人索取。",
      keyChecking: "正在核对密钥…",
      keyAccepted: "密钥有效。",
      keyRejected: "这个密钥无效。",
      conversation: "对话",
      inputLabel: "消息",
      placeholderChat: "对分身说点什么",
      placeholderWriter: "帖子的主题",
      send: "发送",
      stop: "停止",
      copy: "复制",
      copied: "已复制",
      regenerate: "重新生成",
      typing: "正在输入…",
      stopped: "已停止",
      empty: "在下面开始对话。对话会保存在这个浏览器里，直到你开始新对话。",
      offline: "分身暂时连不上，请稍后再试。",
      notReady: "分身还没准备好，请稍后再试。",
      modelDown: "分身的模型没有回应，请稍后再试。",
      tooLong: "这条消息太长了，请发短一点。",
      failed: "出错了（{status}），请再试一次。",
      keptForRetry: "你的消息已放回输入框，可以再次发送。",
      memories: (n) => `用到 ${n} 条记忆`,
      with: "和",
      score: "相关度",
    },
  };

  function preferred() {
    const saved = localStorage.getItem("twin-lang");
    if (saved in STRINGS) return saved;
    for (const tag of navigator.languages || [navigator.language || "en"]) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (base in STRINGS) return base;
    }
    return "en";
  }

  let lang = preferred();

  function t(key, vars = {}) {
    const value = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
    if (typeof value === "function") return value(vars.n);
    return value.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  }

  // Writes the words into every element marked data-i18n (text), data-i18n-placeholder, data-i18n-label.
  function apply(root = document) {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
    for (const node of root.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }

  function toggle() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("twin-lang", lang);
    apply();
    return lang;
  }

  return { t, apply, toggle, get lang() { return lang; } };
})();

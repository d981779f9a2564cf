// ToRouter console: small enhancements over pages that work without JavaScript.
// Alpine components are registered here (the CSP build evaluates no inline code), so the
// templates only name properties and methods: x-data="copyBox", x-on:click="copy".
"use strict";

function csrfToken() {
  const field = document.querySelector('input[name="csrf_token"]');
  return field ? field.value : "";
}

// "{done} of {total}" with the values filled in (messages come from the page's data-*).
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain HTTP on another host: the older selection-based copy.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

// The step to a payment page the console could not redirect to (a checkout on a domain it
// did not know beforehand): follow the link at once; without JavaScript the person clicks it.
document.addEventListener("DOMContentLoaded", () => {
  const link = document.querySelector("a[data-follow]");
  if (link) window.location.assign(link.href);
});

document.addEventListener("alpine:init", () => {
  const Alpine = window.Alpine;

  // A code block with a Copy button; copying also ticks the onboarding step (R15.4).
  Alpine.data("copyBox", () => ({
    hiddenWithoutJs: false,
    async copy() {
      const button = this.$refs.button;
      const target = document.getElementById(button.dataset.copyTarget);
      if (!target) return;
      const label = button.textContent;
      try {
        await copyText(target.textContent);
        button.textContent = button.dataset.copied;
      } catch (err) {
        return;
      }
      setTimeout(() => { button.textContent = label; }, 2000);
      fetch("/onboarding/copied", {
        method: "POST",
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          "HX-Request": "true",
        },
        body: new URLSearchParams({ csrf_token: csrfToken() }),
        credentials: "same-origin",
      }).catch(() => {});
    },
  }));

  // Tabs over the client snippets (WAI-ARIA tabs: arrows, Home, End).
  Alpine.data("tabs", () => ({
    hiddenWithoutJs: false,
    selected: "",
    init() {
      const first = this.$el.querySelector("[data-tab]");
      this.selected = first ? first.dataset.tab : "";
    },
    select() { this.selected = this.$el.dataset.tab; },
    isSelected() { return this.selected === this.$el.dataset.tab ? "true" : "false"; },
    tabIndex() { return this.selected === this.$el.dataset.tab ? "0" : "-1"; },
    panelShown() { return this.selected === this.$el.dataset.panel; },
    panelRole() { return "tabpanel"; },
    panelLabel() { return "tab-" + this.$el.dataset.panel; },
    panelTitleClass() { return "panel-title visually-hidden"; },
    keys(event) {
      const tabs = Array.from(this.$el.parentElement.querySelectorAll("[data-tab]"));
      let i = tabs.indexOf(this.$el);
      if (event.key === "ArrowRight") i = (i + 1) % tabs.length;
      else if (event.key === "ArrowLeft") i = (i - 1 + tabs.length) % tabs.length;
      else if (event.key === "Home") i = 0;
      else if (event.key === "End") i = tabs.length - 1;
      else return;
      event.preventDefault();
      this.selected = tabs[i].dataset.tab;
      tabs[i].focus();
    },
  }));

  // Testing every model of a channel (admin): the same POST as without JavaScript, read as
  // server-sent events; each `result` is a rendered list item, `done` the counts. Stop
  // aborts the request, and the server cancels the checks still running.
  Alpine.data("batchCheck", () => ({
    hiddenWithoutJs: false,
    running: false,
    controller: null,
    notRunning() { return !this.running; },
    stop() {
      if (this.controller) this.controller.abort();
    },
    async start(event) {
      event.preventDefault();
      if (this.running) return;
      const form = this.$refs.form;
      const list = this.$refs.list;
      const status = this.$refs.status;
      const text = this.$root.dataset;
      const total = Number(text.total);
      let done = 0;
      list.replaceChildren();
      status.textContent = fill(text.progress, { done, total });
      this.running = true;
      this.controller = new AbortController();
      try {
        const res = await fetch(form.action, {
          method: "POST",
          headers: {
            "Accept": "text/event-stream",
            "Content-Type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams(new FormData(form)),
          credentials: "same-origin",
          signal: this.controller.signal,
        });
        if (!res.ok || !res.body) {
          status.textContent = text.error;
          return;
        }
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done: finished } = await reader.read();
          if (finished) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let name = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) name = line.slice(6).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
            }
            if (name === "result") {
              list.insertAdjacentHTML("beforeend", data.join("\n"));
              done += 1;
              status.textContent = fill(text.progress, { done, total });
            } else if (name === "done") {
              status.textContent = fill(text.summary, JSON.parse(data.join("\n")));
            }
          }
        }
      } catch (err) {
        status.textContent = err.name === "AbortError" ? fill(text.stopped, { done, total }) : text.error;
      } finally {
        this.running = false;
        this.controller = null;
      }
    },
  }));

  // The playground: streams the reply into the transcript (SSE from the gateway).
  Alpine.data("playground", () => ({
    hiddenWithoutJs: false,
    busy: false,
    controller: null,
    history: [],
    notBusy() { return !this.busy; },
    field(name) {
      const el = this.$refs.form.elements.namedItem(name);
      return el ? el.value.trim() : "";
    },
    bubble(role, text) {
      const log = this.$refs.log;
      const empty = log.querySelector(".empty-note");
      if (empty) empty.remove();
      const form = this.$refs.form;
      const box = document.createElement("div");
      box.className = "msg " + role;
      const who = document.createElement("p");
      who.className = "who";
      who.textContent = role === "user" ? form.dataset.you : form.dataset.assistant;
      const body = document.createElement("div");
      body.className = "text";
      body.textContent = text;
      box.append(who, body);
      log.appendChild(box);
      return body;
    },
    clear() {
      this.history = [];
      this.$refs.log.replaceChildren();
    },
    stop() {
      if (this.controller) this.controller.abort();
    },
    async send(event) {
      event.preventDefault();
      if (this.busy) return;
      const message = this.field("message");
      if (!message) return;
      const pasted = this.field("api_key");
      const keyId = this.field("key_id");
      if (!pasted && !keyId) {
        this.$refs.form.submit();  // the server names the missing field
        return;
      }
      const turn = { role: "user", content: message };
      const system = this.field("system");
      const temperature = this.field("temperature");
      const maxTokens = this.field("max_tokens");
      const model = this.field("model");
      const messages = [...this.history, turn];
      let url = "/api/me/playground/chat";
      const headers = { "Content-Type": "application/json" };
      let body;
      if (pasted) {
        url = "/v1/chat/completions";
        headers["Authorization"] = "Bearer " + pasted;
        const sent = system ? [{ role: "system", content: system }, ...messages] : messages;
        body = { model, messages: sent, stream: true, stream_options: { include_usage: true } };
        if (temperature) body.temperature = Number(temperature);
        if (maxTokens) body.max_tokens = Number(maxTokens);
      } else {
        headers["X-CSRF-Token"] = csrfToken();
        body = { key_id: Number(keyId), model, messages, stream: true };
        if (system) body.system = system;
        if (temperature) body.temperature = Number(temperature);
        if (maxTokens) body.max_tokens = Number(maxTokens);
      }
      this.bubble("user", message);
      this.$refs.form.elements.namedItem("message").value = "";
      const out = this.bubble("assistant", "");
      this.busy = true;
      this.controller = new AbortController();
      let reply = "";
      try {
        const res = await fetch(url, {
          method: "POST",
          headers,
          body: JSON.stringify(body),
          credentials: "same-origin",
          signal: this.controller.signal,
        });
        if (!res.ok) {
          let text = this.$refs.form.dataset.error;
          try { text = (await res.json()).error.message || text; } catch (err) { /* not JSON */ }
          out.textContent = text;
          out.parentElement.classList.add("failed");
          return;
        }
        const reader = res.body.getReader();
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
              if (data === "[DONE]") continue;
              let chunk;
              try { chunk = JSON.parse(data); } catch (err) { continue; }
              if (chunk.error) {
                out.textContent = reply + "\n" + (chunk.error.message || "");
                out.parentElement.classList.add("failed");
                continue;
              }
              const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
              if (delta && delta.content) {
                reply += delta.content;
                out.textContent = reply;
              }
            }
          }
        }
        this.history = [...messages, { role: "assistant", content: reply }];
      } catch (err) {
        if (err.name !== "AbortError") {
          out.textContent = this.$refs.form.dataset.error;
          out.parentElement.classList.add("failed");
        } else {
          this.history = [...messages, { role: "assistant", content: reply }];
        }
      } finally {
        this.busy = false;
        this.controller = null;
      }
    },
  }));
});

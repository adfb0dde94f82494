// The logs page: recorded log lines, then a live tail pushed by the server (Server-Sent Events), filtered by step,
// level, trace id and text. Each line with a trace id links to its trace. `render(root, params)` draws into root.

import { traceLink, useStyles } from "./traces.js";

const API = "/__motia/api";
const KEEP = 2000;  // lines shown at most (the oldest go)

let tail = null;  // the open EventSource: one page, one tail

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function query(filters, after) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  if (after) params.set("after", String(after));
  const text = params.toString();
  return text ? `?${text}` : "";
}

function line(entry) {
  const fields = entry.fields && Object.keys(entry.fields).length ? JSON.stringify(entry.fields) : "";
  return el("li", { class: `log ${entry.level}`, "data-seq": entry.seq, "data-step": entry.step || "" },
    el("span", { class: "time" }, new Date(entry.time * 1000).toLocaleTimeString()), " ",
    el("span", { class: "level" }, entry.level), " ",
    el("span", { class: "step" }, entry.step || entry.logger || ""), " ",
    el("span", { class: "message" }, entry.message),
    fields ? el("code", { class: "fields" }, " ", fields) : null,
    entry.trace_id ? el("a", { class: "trace-link", href: traceLink(entry.trace_id) }, entry.trace_id.slice(0, 8)) : null);
}

export async function render(root, params = []) {
  useStyles();
  if (tail) tail.close();
  const form = el("form", { class: "toolbar filters" },
    el("input", { type: "search", name: "step", placeholder: "step" }),
    (() => {
      const select = el("select", { name: "level" });
      for (const level of ["", "debug", "info", "warning", "error", "critical"]) {
        select.append(el("option", { value: level }, level ? `${level} and above` : "any level"));
      }
      return select;
    })(),
    el("input", { type: "search", name: "trace_id", placeholder: "trace id" }),
    el("input", { type: "search", name: "q", placeholder: "text" }),
    el("button", { type: "submit" }, "Filter"));
  const state = el("span", { class: "tail-state", "data-tail": "connecting" }, "connecting…");
  const list = el("ol", { class: "loglines live" });
  root.replaceChildren(el("section", { class: "recording logs" }, el("h2", {}, "Logs ", state), form, list));
  const parts = Array.isArray(params) ? params : Object.values(params || {});
  const traceId = parts.filter((part) => /^[0-9a-f]{32}$/.test(part)).pop();
  if (traceId) form.elements.trace_id.value = traceId;

  const start = async () => {
    if (tail) tail.close();
    state.textContent = "connecting…";
    state.dataset.tail = "connecting";
    const filters = Object.fromEntries(new FormData(form).entries());
    list.replaceChildren();
    let last = 0;
    try {
      const response = await fetch(`${API}/logs${query(filters)}`);
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
      for (const entry of body.logs) { list.append(line(entry)); last = entry.seq; }
    } catch (error) {
      state.textContent = `error: ${error.message}`;
      state.dataset.tail = "error";
      return;
    }
    // Pushed from here on: the server sends each matching line as it is logged (EventSource reconnects by itself,
    // sending the last id it saw, so nothing is missed).
    tail = new EventSource(`${API}/logs/tail${query(filters, last)}`);
    tail.addEventListener("open", () => { state.textContent = "live"; state.dataset.tail = "live"; });
    tail.addEventListener("error", () => { state.textContent = "reconnecting…"; state.dataset.tail = "reconnecting"; });
    tail.addEventListener("log", (event) => {
      list.append(line(JSON.parse(event.data)));
      while (list.childElementCount > KEEP) list.firstChild.remove();
    });
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); start(); });
  await start();
  return () => { if (tail) { tail.close(); tail = null; } };  // the console shell calls it when the page is left
}

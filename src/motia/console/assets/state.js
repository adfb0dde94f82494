// State: the groups, the keys of a group, and a JSON editor for one value. Saving and deleting go through the
// same state functions handlers call, so state triggers fire.
import { api, el, failure, hash, pretty, section } from "./ui.js";

function editor(group, key, value, parent) {
  const box = section(parent, `${group} / ${key}`, { class: "editor", "data-key": key });
  const text = el("textarea", { rows: 14, spellcheck: "false", name: "value" }, value === undefined ? "" : pretty(value), box);
  const status = el("p", { class: "status-line" });
  const save = async () => {
    let parsed;
    try { parsed = JSON.parse(text.value); } catch (error) { status.textContent = `Not JSON: ${error.message}`; status.className = "error"; return; }
    try {
      await api(`/__motia/api/state/${encodeURIComponent(group)}/${encodeURIComponent(key)}`, { method: "PUT", body: parsed });
      // Shown again from the server, as handlers now read it.
      const target = hash("state", group, key);
      if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
      else location.hash = target;
    } catch (error) { status.textContent = error.message; status.className = "error"; }
  };
  const remove = async () => {
    try {
      await api(`/__motia/api/state/${encodeURIComponent(group)}/${encodeURIComponent(key)}`, { method: "DELETE" });
      location.hash = hash("state", group);
    } catch (error) { status.textContent = error.message; status.className = "error"; }
  };
  el("div", { class: "buttons" }, [
    el("button", { type: "button", name: "save", onclick: save }, "Save"),
    value === undefined ? null : el("button", { type: "button", name: "delete", class: "danger", onclick: remove }, "Delete"),
  ], box);
  box.append(status);
}

export async function render(root, args) {
  const [group, key] = args;
  const layout = el("div", { class: "split" }, [], root);
  const groups = await api("/__motia/api/state");
  const list = el("ul", { class: "groups" }, [], layout);
  for (const name of groups) {
    el("li", { class: name === group ? "current" : null }, el("a", { href: hash("state", name), "data-group": name }, name), list);
  }
  if (!groups.length) el("li", { class: "muted" }, "No state yet.", list);
  const pane = el("div", { class: "pane" }, [], layout);
  if (!group) { el("p", { class: "muted" }, "Pick a group.", pane); return; }
  let items;
  try { items = await api(`/__motia/api/state/${encodeURIComponent(group)}`); } catch (error) { failure(pane, error); return; }
  const keys = section(pane, group, { class: "keys" });
  const rows = el("table", { class: "items" }, [], keys);
  for (const [name, value] of Object.entries(items)) {
    el("tr", { class: name === key ? "current" : null }, [
      el("th", {}, el("a", { href: hash("state", group, name), "data-key": name }, name)),
      el("td", {}, el("code", {}, JSON.stringify(value).slice(0, 160))),
    ], rows);
  }
  const adding = el("form", { class: "add" }, [el("input", { name: "key", placeholder: "new key", required: true }),
    el("button", { type: "submit" }, "Add")], keys);
  adding.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = hash("state", group, adding.elements.key.value);
  });
  if (key !== undefined) editor(group, key, Object.prototype.hasOwnProperty.call(items, key) ? items[key] : undefined, pane);
}

// Streams: the streams and their groups; a group's items live, as a subscribed client sees them: the page joins
// the group on the app's stream WebSocket and applies its sync, create, update and delete frames.
import { api, el, hash, pretty, when } from "./ui.js";

function live(about, stream, group, pane) {
  const status = el("p", { class: "status-line muted", "data-socket": "connecting" }, "connecting…", pane);
  const body = el("tbody");
  el("table", { class: "items", "data-stream": stream, "data-group": group },
    [el("thead", {}, el("tr", {}, [el("th", {}, "id"), el("th", {}, "value")])), body], pane);
  const log = el("ol", { class: "events" });
  el("details", { open: true }, [el("summary", {}, "frames received"), log], pane);
  const items = new Map();
  const draw = () => {
    body.replaceChildren(...[...items.entries()].map(([id, value]) =>
      el("tr", { "data-item": id }, [el("th", {}, id), el("td", {}, el("pre", {}, pretty(value)))])));
  };
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.hostname}:${about.stream_port}`);
  const subscriptionId = `console-${Math.random().toString(36).slice(2)}`;
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "join", data: { subscriptionId, streamName: stream, groupId: group } }));
    status.textContent = "subscribed"; status.dataset.socket = "open";
  });
  socket.addEventListener("close", (event) => {
    status.textContent = `closed (${event.code}${event.reason ? `: ${event.reason}` : ""})`;
    status.dataset.socket = "closed";
  });
  socket.addEventListener("message", (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type !== "stream" || !frame.event) return;
    const event = frame.event;
    el("li", {}, `${when(frame.timestamp / 1000)} ${event.type}${frame.id ? ` ${frame.id}` : ""}`, log);
    if (event.type === "sync") {
      items.clear();
      (event.data || []).forEach((value, index) => items.set(String(value && value.id !== undefined ? value.id : index), value));
      status.dataset.synced = "true";
    } else if (event.type === "create" || event.type === "update") {
      items.set(String(frame.id), event.data);
    } else if (event.type === "delete") {
      items.delete(String(frame.id));
    } else if (event.type === "unauthorized") {
      status.textContent = "the app refused this subscription"; status.className = "error";
    }
    draw();
  });
  return () => socket.close();
}

export async function render(root, args) {
  const [stream, group] = args;
  const [about, streams] = await Promise.all([api("/__motia/api/console"), api("/__motia/api/streams")]);
  const layout = el("div", { class: "split" }, [], root);
  const list = el("ul", { class: "groups" }, [], layout);
  for (const row of streams) {
    el("li", { class: "heading" }, row.name, list);
    for (const name of row.groups) {
      el("li", { class: row.name === stream && name === group ? "current" : null },
        el("a", { href: hash("streams", row.name, name), "data-stream": row.name, "data-group": name }, name), list);
    }
    if (!row.groups.length) el("li", { class: "muted" }, "no groups yet", list);
  }
  if (!streams.length) el("li", { class: "muted" }, "This app has no streams.", list);
  const pane = el("div", { class: "pane" }, [], layout);
  if (!stream || group === undefined) { el("p", { class: "muted" }, "Pick a group to watch it live.", pane); return; }
  el("h2", {}, `${stream} / ${group}`, pane);
  if (!about.stream_port) { el("p", { class: "error" }, "This app serves no stream WebSocket (no stream port).", pane); return; }
  return live(about, stream, group, pane);
}

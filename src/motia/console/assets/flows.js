// Flows: the app's flow graph (one tab per flow), each step clickable to its details: triggers, source file and
// line, schemas and recent runs (from the recording's traces when it is on).
import { api, el, hash, pretty, section } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (parent) parent.append(node);
  return node;
}

function path(points) {
  return points.map((p, i) => `${i ? "L" : "M"}${p[0]},${p[1]}`).join(" ");
}

function draw(data, sectionData, onStep) {
  const nodes = {};
  for (const step of data.steps) nodes[step.id] = { kind: step.kinds[0], label: step.name, step, lines: step.details };
  for (const topic of data.topics) nodes[topic.id] = { kind: "topic", label: topic.topic, lines: [] };
  const picture = svg("svg", { viewBox: `0 0 ${sectionData.width} ${sectionData.height}`,
    width: sectionData.width, height: sectionData.height, class: "graph" });
  svg("defs", {}, picture).innerHTML =
    '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">' +
    '<path d="M0,0 L10,5 L0,10 z" fill="#8a93a3"/></marker>';
  for (const [index, points] of sectionData.routes) {
    const edge = data.edges[index];
    svg("path", { d: path(points), class: `edge ${edge.kind}${edge.virtual ? " virtual" : ""}`,
      "marker-end": "url(#arrow)" }, picture);
  }
  for (const [id, box] of Object.entries(sectionData.boxes)) {
    const node = nodes[id];
    if (!node) continue;
    const [x, y, width, height] = box;
    const group = svg("g", { class: `node ${node.kind}`, transform: `translate(${x},${y})` }, picture);
    if (node.step) {
      group.dataset.step = node.step.name;
      group.setAttribute("tabindex", "0");
      group.setAttribute("role", "link");
      group.addEventListener("click", () => onStep(node.step.name));
      group.addEventListener("keydown", (event) => { if (event.key === "Enter") onStep(node.step.name); });
    } else {
      group.dataset.topic = node.label;
    }
    svg("rect", { width, height, rx: node.kind === "topic" ? height / 2 : 8 }, group);
    const title = svg("text", { x: 12, y: node.kind === "topic" ? height / 2 + 4 : 20, class: "label" }, group);
    title.textContent = node.label;
    node.lines.forEach((line, i) => {
      const text = svg("text", { x: 12, y: 40 + i * 17, class: "detail" }, group);
      text.textContent = line;
    });
  }
  return picture;
}

async function recentRuns(name, parent) {
  // The recording (traces) answers /__motia/api/traces?step=NAME when it is on; anything else: it is off.
  const box = section(parent, "Recent runs", { class: "runs" });
  let runs = null;
  try {
    const response = await fetch(`/__motia/api/traces?step=${encodeURIComponent(name)}`,
      { headers: { accept: "application/json" } });
    if (response.status === 200) runs = await response.json();
  } catch { runs = null; }
  const list = runs && (Array.isArray(runs) ? runs : runs.traces);
  if (!Array.isArray(list)) {
    el("p", { class: "muted", "data-recording": "off" }, "recording off", box);
    return;
  }
  if (!list.length) el("p", { class: "muted" }, "no runs recorded yet", box);
  const items = el("ul", {}, [], box);
  for (const run of list.slice(0, 20)) {
    const id = run.trace_id || run.id;
    el("li", {}, [el("a", { href: hash("traces", id) }, id), run.status ? ` ${run.status}` : "",
      run.duration_ms !== undefined ? ` ${run.duration_ms} ms` : ""], items);
  }
}

function details(info, parent) {
  const panel = el("aside", { class: "details", "data-step": info.name }, [], parent);
  el("h2", {}, info.name, panel);
  if (info.description) el("p", {}, info.description, panel);
  if (info.file) el("p", { class: "source" }, `${info.file}:${info.line}`, panel);
  if (info.flows && info.flows.length) el("p", {}, `flows: ${info.flows.join(", ")}`, panel);
  const triggers = section(panel, "Triggers");
  for (const trigger of info.triggers) {
    const item = el("div", { class: "trigger", "data-kind": trigger.kind }, [
      el("span", { class: `badge ${trigger.kind}` }, trigger.kind), " ", el("code", {}, trigger.summary)], triggers);
    if (trigger.schema) el("details", {}, [el("summary", {}, "input schema"), el("pre", {}, pretty(trigger.schema))], item);
    for (const [status, schema] of Object.entries(trigger.responses || {})) {
      if (schema) el("details", {}, [el("summary", {}, `response ${status}`), el("pre", {}, pretty(schema))], item);
    }
  }
  if (info.emits && info.emits.length) section(panel, "Emits").append(el("p", {}, info.emits.join(", ")));
  return recentRuns(info.name, panel);
}

export async function render(root, args) {
  const data = await api("/__motia/api/flows");
  const graph = data.graph;
  const layout = el("div", { class: "flows" }, [], root);
  const left = el("div", { class: "canvas" }, [], layout);
  const tabs = el("div", { class: "tabs" }, [], left);
  const holder = el("div", { class: "picture" }, [], left);
  const chosen = args[0] ? data.steps[args[0]] : null;
  const open = (name) => { location.hash = hash("flows", name); };
  // The tab of the chosen step's flow (or the first) is drawn; the others on a click.
  let current = graph.sections.find((s) => chosen && s.boxes[`step:${chosen.name}`]) || graph.sections[0];
  const showSection = (sectionData) => {
    current = sectionData;
    for (const tab of tabs.children) tab.classList.toggle("current", tab.dataset.section === sectionData.id);
    holder.replaceChildren(draw(graph, sectionData, open));
    if (chosen) holder.querySelector(`[data-step="${CSS.escape(chosen.name)}"]`)?.classList.add("chosen");
  };
  for (const sectionData of graph.sections) {
    el("button", { type: "button", "data-section": sectionData.id, onclick: () => showSection(sectionData) },
      sectionData.name, tabs);
  }
  if (!current) {
    el("p", { class: "muted" }, "This app has no steps.", holder);
  } else {
    showSection(current);
  }
  if (chosen) await details(chosen, layout);
  else if (args[0]) el("p", { class: "error" }, `no step named ${args[0]}`, layout);
  else el("aside", { class: "details muted" }, "Click a step to see its triggers, source and recent runs.", layout);
}

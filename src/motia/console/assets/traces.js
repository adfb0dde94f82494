// The traces page: the recorded traces (newest first, filtered by step), and one trace's timeline. A click on a
// span shows its details and its log lines; a log line's trace link comes back here. Plain JS, no dependencies:
// `render(root, params)` draws into `root`; params are the hash's parts after the page's own (a trace id or none).

const API = "/__motia/api";

export function useStyles() {
  // The pages' stylesheet sits beside them (in the console shell and on the standalone pages alike).
  const href = new URL("./recording.css", import.meta.url).href;
  if (![...document.querySelectorAll("link[rel=stylesheet]")].some((link) => link.href === href)) {
    document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href }));
  }
}

export function traceLink(traceId) {
  // In the console shell pages live at #/traces/...; on the standalone page at #/...
  if (location.pathname.startsWith("/__motia/recording/")) return `/__motia/recording/traces#/${traceId}`;
  return `#/traces/${traceId}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "onclick") node.addEventListener("click", value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function getJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : `HTTP ${response.status}`);
  return body;
}

const ms = (value) => (value < 1 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value)) + " ms";
const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString();

export async function render(root, params = []) {
  useStyles();
  const parts = Array.isArray(params) ? params : Object.values(params || {});
  const traceId = parts.filter((part) => /^[0-9a-f]{32}$/.test(part)).pop();
  root.replaceChildren(el("section", { class: "recording traces" }, el("p", { class: "muted" }, "Loading…")));
  const section = root.firstChild;
  try {
    if (traceId) await renderTrace(section, traceId);
    else await renderList(section);
  } catch (error) {
    section.replaceChildren(el("p", { class: "error", "data-error": "" }, String(error.message || error)));
  }
}

async function renderList(section, step = "") {
  const query = step ? `?step=${encodeURIComponent(step)}` : "";
  const { traces } = await getJson(`${API}/traces${query}`);
  const filter = el("input", { type: "search", name: "step", placeholder: "filter by step", value: step });
  filter.addEventListener("change", () => renderList(section, filter.value.trim()));
  const rows = traces.map((trace) =>
    el("tr", { class: `trace ${trace.status}`, "data-trace": trace.trace_id,
               onclick: () => { location.href = traceLink(trace.trace_id); } },
      el("td", {}, el("a", { href: traceLink(trace.trace_id) }, trace.name)),
      el("td", {}, trace.steps.join(", ")),
      el("td", { class: "status" }, trace.status),
      el("td", { class: "num" }, trace.spans),
      el("td", { class: "num" }, ms(trace.duration_ms)),
      el("td", {}, clock(trace.start), trace.rerun_of ? el("span", { class: "badge" }, "rerun") : null)));
  section.replaceChildren(
    el("h2", {}, "Traces"),
    el("div", { class: "toolbar" }, filter, el("button", { type: "button", onclick: () => renderList(section, filter.value.trim()) }, "Refresh")),
    rows.length
      ? el("table", { class: "list" },
          el("thead", {}, el("tr", {}, ["trace", "steps", "status", "spans", "duration", "started"].map((h) => el("th", {}, h)))),
          el("tbody", {}, rows))
      : el("p", { class: "muted empty" }, step ? `No recorded trace runs step ${step}.` : "No trace recorded yet: send a request."));
}

function depths(spans) {
  const byId = new Map(spans.map((span) => [span.span_id, span]));
  const depth = new Map();
  const of = (span) => {
    if (depth.has(span.span_id)) return depth.get(span.span_id);
    depth.set(span.span_id, 0);  // a cycle cannot recurse forever
    const parent = span.parent_id && byId.get(span.parent_id);
    const value = parent ? of(parent) + 1 : 0;
    depth.set(span.span_id, value);
    return value;
  };
  spans.forEach(of);
  return depth;
}

async function renderTrace(section, traceId) {
  const { trace, spans, logs, reruns } = await getJson(`${API}/traces/${traceId}`);
  const start = trace.start;
  const total = Math.max(trace.duration_ms, 0.001);
  const depth = depths(spans);
  const detail = el("div", { class: "span-detail", "data-detail": "" }, el("p", { class: "muted" }, "Click a span to see its details and log lines."));
  const rerunStatus = el("span", { class: "rerun-status" });
  const rows = spans.map((span) => {
    const left = ((span.start - start) * 1000 / total) * 100;
    const width = Math.max((span.duration_ms / total) * 100, 0.5);
    const row = el("div", { class: `span ${span.kind} ${span.status}`, "data-span": span.span_id, "data-kind": span.kind,
                            style: `--depth:${depth.get(span.span_id)}` },
      el("div", { class: "label" }, span.name,
        span.attempt ? el("span", { class: "badge attempt" }, `attempt ${span.attempt}`) : null,
        span.step ? el("span", { class: "step" }, span.step) : null),
      el("div", { class: "lane" }, el("div", { class: "bar", style: `left:${Math.min(left, 99.5)}%;width:${Math.min(width, 100 - Math.min(left, 99.5))}%` })),
      el("div", { class: "num" }, ms(span.duration_ms)));
    row.addEventListener("click", () => {
      section.querySelectorAll(".span.selected").forEach((other) => other.classList.remove("selected"));
      row.classList.add("selected");
      showSpan(detail, span, logs, rerunStatus);
    });
    return row;
  });
  const rerunnable = spans.find((span) => span.request);
  section.replaceChildren(...[
    el("p", {}, el("a", { href: location.pathname.startsWith("/__motia/recording/") ? "#/" : "#/traces" }, "← all traces")),
    el("h2", {}, trace.name, " ", el("span", { class: `status ${trace.status}` }, trace.status)),
    el("p", { class: "meta" }, `trace ${traceId} · ${spans.length} spans · ${ms(trace.duration_ms)} · ${clock(start)}`,
      trace.rerun_of ? el("span", {}, " · rerun of ", el("a", { href: traceLink(trace.rerun_of), "data-rerun-of": trace.rerun_of }, trace.rerun_of.slice(0, 8))) : null),
    reruns.length ? el("p", { class: "meta" }, "reruns: ", reruns.map((id) => el("a", { href: traceLink(id), class: "rerun-link" }, id.slice(0, 8), " "))) : null,
    rerunnable ? el("div", { class: "toolbar" },
      el("button", { type: "button", "data-rerun": "", onclick: () => rerun(traceId, null, rerunStatus) }, "Rerun"), rerunStatus) : null,
    el("div", { class: "timeline" }, rows),
    detail].filter(Boolean));
}

async function rerun(traceId, spanId, status) {
  status.textContent = "re-sending…";
  try {
    const body = await getJson(`${API}/rerun`, {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(spanId ? { trace_id: traceId, span_id: spanId } : { trace_id: traceId }),
    });
    status.replaceChildren("new run: ", el("a", { href: traceLink(body.trace_id), "data-new-trace": body.trace_id }, body.trace_id.slice(0, 8)));
  } catch (error) {
    status.textContent = `rerun failed: ${error.message}`;
  }
}

function showSpan(detail, span, logs, rerunStatus) {
  const end = span.start + span.duration_ms / 1000;
  // A line belongs to the handler run that wrote it (its span_id); a line written outside one (no span_id) to the
  // span its step was running at the time.
  const own = logs.filter((line) => line.span_id ? line.span_id === span.span_id
    : line.step === span.step && line.time >= span.start && line.time <= end + 0.0005);
  const facts = [["kind", span.kind], ["function", span.function_id], ["step", span.step], ["status", span.status],
                 ["duration", ms(span.duration_ms)], ["attempt", span.attempt], ["error", span.error],
                 ...Object.entries(span.attributes || {})].filter(([, value]) => value !== undefined && value !== null);
  detail.replaceChildren(
    el("h3", {}, span.name),
    el("dl", {}, facts.map(([key, value]) => [el("dt", {}, key), el("dd", { "data-fact": key }, String(value))])),
    span.request ? el("details", {}, el("summary", {}, span.kind === "http" ? "request" : "message"),
      el("pre", {}, JSON.stringify(span.request, null, 2))) : null,
    span.request ? el("button", { type: "button", onclick: () => rerun(span.trace_id, span.span_id, rerunStatus) }, "Rerun this") : null,
    el("h4", {}, "Log lines"),
    own.length
      ? el("ol", { class: "loglines" }, own.map((line) => el("li", { class: `log ${line.level}`, "data-seq": line.seq },
          el("span", { class: "time" }, clock(line.time)), " ", el("span", { class: "level" }, line.level), " ", line.message,
          line.fields && Object.keys(line.fields).length ? el("code", {}, " ", JSON.stringify(line.fields)) : null)))
      : el("p", { class: "muted" }, "No log line from this span."));
}

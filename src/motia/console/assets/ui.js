// What every console page uses: the JSON API client and a small DOM builder.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// A JSON call to the console's APIs; every write says JSON, even a DELETE without a body (the operator routes
// refuse anything else: a cross-site form cannot send it without a preflight, which they refuse).
export async function api(path, { method = "GET", body } = {}) {
  const options = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") options.headers["content-type"] = "application/json";
  if (body !== undefined) options.body = JSON.stringify(body);
  const response = await fetch(path, options);
  const text = await response.text();
  let value = null;
  try { value = text ? JSON.parse(text) : null; } catch { value = text; }
  if (!response.ok) throw new ApiError(response.status, value);
  return value;
}

// el("a", {href: "#/x", class: "y"}, "text" | node | [children], parent) -> the element
export function el(tag, attributes = {}, children = [], parent = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  if (parent) parent.append(node);
  return node;
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

export function when(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toISOString().replace(".000Z", "Z") : "—";
}

export function hash(...parts) {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

// A titled section with a heading and a body element to fill.
export function section(parent, title, attributes = {}) {
  const box = el("section", attributes, [el("h2", {}, title)], parent);
  return box;
}

export function table(headings, rows, attributes = {}) {
  return el("table", attributes, [
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows),
  ]);
}

export function failure(parent, error) {
  return el("p", { class: "error" }, error.message || String(error), parent);
}

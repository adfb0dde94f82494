// Endpoint tester: the app's routes from its OpenAPI document; a form generated from the chosen route's
// parameters and request schema; send it and see the status, headers, body and the trace it started.
import { el, hash, pretty } from "./ui.js";

// Response headers that carry the trace id of the request (the first present wins); `traceparent` holds it as
// its second field.
const TRACE_HEADERS = ["x-trace-id", "x-motia-trace-id", "traceparent"];
const METHODS = ["get", "post", "put", "patch", "delete"];

function resolve(schema, document, depth = 0) {
  // Follow `$ref`s into components (a bounded depth: schemas may be recursive).
  if (!schema || depth > 8) return schema || {};
  if (schema.$ref) {
    const target = schema.$ref.replace(/^#\//, "").split("/").reduce((node, key) => node && node[key], document);
    return resolve(target, document, depth + 1);
  }
  for (const key of ["anyOf", "oneOf"]) {
    if (Array.isArray(schema[key])) {
      const first = schema[key].find((s) => s.type !== "null") || schema[key][0];
      return resolve(first, document, depth + 1);
    }
  }
  return schema;
}

function example(schema, document, depth = 0) {
  schema = resolve(schema, document);
  if (depth > 6) return null;
  if ("default" in schema) return schema.default;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  switch (schema.type) {
    case "object": {
      const value = {};
      for (const [name, property] of Object.entries(schema.properties || {})) value[name] = example(property, document, depth + 1);
      return value;
    }
    case "array": return [];
    case "integer": case "number": return 0;
    case "boolean": return false;
    case "string": return "";
    default: return null;
  }
}

function routes(document) {
  const found = [];
  for (const [path, item] of Object.entries(document.paths || {})) {
    for (const method of METHODS) if (item[method]) found.push({ method: method.toUpperCase(), path, operation: item[method], item });
  }
  return found;
}

function field(name, schema, required, document) {
  // One input per parameter or body property: a checkbox, a number, a text, or JSON for anything nested.
  schema = resolve(schema, document);
  const type = schema.type;
  let input;
  if (type === "boolean") input = el("input", { type: "checkbox", name });
  else if (type === "integer" || type === "number") input = el("input", { type: "number", name, step: type === "integer" ? "1" : "any" });
  else if (type === "string" || type === undefined && !schema.properties) input = el("input", { type: "text", name });
  else input = el("textarea", { name, rows: 3, "data-json": "true" }, pretty(example(schema, document)));
  input.dataset.type = type || "json";
  return el("label", { class: "field" }, [el("span", {}, `${name}${required ? " *" : ""}`), input]);
}

function read(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.value === "") return undefined;
  if (input.dataset.type === "integer" || input.dataset.type === "number") return Number(input.value);
  if (input.dataset.json) return JSON.parse(input.value);
  return input.value;
}

function randomHex(bytes) {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function traceId(headers) {
  for (const name of TRACE_HEADERS) {
    const value = headers.get(name);
    if (value) return name === "traceparent" ? value.split("-")[1] : value;
  }
  return null;
}

function tester(route, document, parent) {
  const operation = route.operation;
  const parameters = [...(route.item.parameters || []), ...(operation.parameters || [])];
  const form = el("form", { class: "tester", "data-route": `${route.method} ${route.path}` }, [
    el("h2", {}, [el("span", { class: `badge ${route.method.toLowerCase()}` }, route.method), " ", el("code", {}, route.path)]),
    operation.summary ? el("p", {}, operation.summary) : null,
  ], parent);
  const groups = {};
  for (const where of ["path", "query"]) {
    const own = parameters.filter((p) => p.in === where);
    if (!own.length) continue;
    groups[where] = el("fieldset", { "data-in": where }, [el("legend", {}, `${where} parameters`)], form);
    for (const p of own) groups[where].append(field(p.name, p.schema || { type: "string" }, p.required, document));
  }
  const content = operation.requestBody && operation.requestBody.content && operation.requestBody.content["application/json"];
  let body = null;
  if (content) {
    const schema = resolve(content.schema, document);
    body = el("fieldset", { "data-in": "body" }, [el("legend", {}, "body")], form);
    if (schema.type === "object" && schema.properties) {
      const required = new Set(schema.required || []);
      for (const [name, property] of Object.entries(schema.properties)) body.append(field(name, property, required.has(name), document));
    } else {
      body.append(el("label", { class: "field" }, [el("span", {}, "JSON"),
        el("textarea", { name: "body", rows: 6, "data-json": "true", "data-type": "json" }, pretty(example(schema, document)))]));
    }
  }
  el("button", { type: "submit" }, "Send", form);
  const result = el("div", { class: "result" }, [], parent);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.replaceChildren(el("p", { class: "muted" }, "sending…"));
    let url = route.path, payload;
    const query = new URLSearchParams();
    try {
      for (const input of (groups.path ? groups.path.querySelectorAll("input,textarea") : [])) {
        url = url.replace(`{${input.name}}`, encodeURIComponent(read(input) ?? ""));
      }
      for (const input of (groups.query ? groups.query.querySelectorAll("input,textarea") : [])) {
        const value = read(input);
        if (value !== undefined) query.append(input.name, String(value));
      }
      if (body) {
        const inputs = [...body.querySelectorAll("input,textarea")];
        if (inputs.length === 1 && inputs[0].name === "body") payload = read(inputs[0]);
        else {
          payload = {};
          for (const input of inputs) { const value = read(input); if (value !== undefined) payload[input.name] = value; }
        }
      }
    } catch (error) {
      result.replaceChildren(el("p", { class: "error" }, `Not sent: ${error.message}`));
      return;
    }
    const target = url + (query.toString() ? `?${query}` : "");
    // The request starts a trace of its own (a W3C traceparent the app continues), so its trace is known even
    // when the response names none.
    const started = randomHex(16);
    const options = { method: route.method, headers: { traceparent: `00-${started}-${randomHex(8)}-01` } };
    if (payload !== undefined) { options.headers["content-type"] = "application/json"; options.body = JSON.stringify(payload); }
    let response;
    try {
      response = await fetch(target, options);
    } catch (error) {
      result.replaceChildren(el("p", { class: "error" }, `Request failed: ${error.message}`));
      return;
    }
    const text = await response.text();
    let shown = text;
    try { shown = pretty(JSON.parse(text)); } catch { /* not JSON: shown as it came */ }
    const trace = traceId(response.headers) || started;
    const headers = [...response.headers.entries()].map(([k, v]) => el("tr", {}, [el("th", {}, k), el("td", {}, v)]));
    result.replaceChildren(
      el("p", {}, [el("strong", { class: `status s${String(response.status)[0]}`, "data-status": response.status },
        `${response.status} ${response.statusText}`), " ", el("code", {}, `${route.method} ${target}`)]),
      el("p", { class: "trace" }, trace
        ? ["trace ", el("a", { href: hash("traces", trace), "data-trace": trace }, trace)]
        : el("span", { class: "muted" }, "no trace id")),
      el("table", { class: "headers" }, headers),
      el("pre", { class: "body" }, shown),
    );
  });
  return form;
}

export async function render(root, args) {
  const response = await fetch("/openapi.json", { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`/openapi.json answered ${response.status}`);
  const document = await response.json();
  const all = routes(document);
  const layout = el("div", { class: "split" }, [], root);
  const list = el("ul", { class: "routes" }, [], layout);
  const chosen = args[0] ? all.find((r) => `${r.method} ${r.path}` === args[0]) : null;
  for (const route of all) {
    const name = `${route.method} ${route.path}`;
    el("li", { class: chosen === route ? "current" : null }, el("a", { href: hash("endpoints", name), "data-route": name },
      [el("span", { class: `badge ${route.method.toLowerCase()}` }, route.method), " ", route.path]), list);
  }
  if (!all.length) el("li", { class: "muted" }, "This app has no HTTP routes.", list);
  const pane = el("div", { class: "pane" }, [], layout);
  if (chosen) tester(chosen, document, pane);
  else el("p", { class: "muted" }, args[0] ? `no route ${args[0]}` : "Pick a route to try it.", pane);
}

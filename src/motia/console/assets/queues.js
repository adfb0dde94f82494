// Queues and cron: each subscription's pending, in-flight and dead messages; a subscription's messages with
// their payload and error history, redriven or discarded one by one or all at once. Then the cron jobs: next
// fire, recent runs and their outcome, and "run now".
import { api, el, failure, hash, pretty, section, table, when } from "./ui.js";

function subscriptions(rows, chosen, parent) {
  const box = section(parent, "Subscriptions", { class: "subscriptions" });
  if (!rows.length) { el("p", { class: "muted" }, "No queue subscriptions.", box); return; }
  box.append(table(["topic", "step", "pending", "in flight", "dead letters", ""], rows.map((row) => {
    const current = chosen && chosen[0] === row.topic && chosen[1] === row.function_id;
    return el("tr", { class: current ? "current" : null, "data-topic": row.topic, "data-function": row.function_id }, [
      el("td", {}, el("a", { href: hash("queues", row.topic, row.function_id) }, row.topic)),
      el("td", {}, row.step || row.function_id),
      el("td", { "data-count": "pending" }, row.pending),
      el("td", { "data-count": "in_flight" }, row.in_flight),
      el("td", { "data-count": "dead", class: row.dead ? "bad" : null }, row.dead),
      el("td", {}, row.connected ? "" : el("span", { class: "muted" }, "worker away")),
    ]);
  })));
}

function message(row, dead, act) {
  const history = row.errors.length
    ? el("ol", { class: "attempts" }, row.errors.map((e) => el("li", {}, `attempt ${e.attempt} at ${when(e.at)}: ${e.error}`)))
    : row.error ? el("p", { class: "error" }, row.error) : null;
  return el("article", { class: "message", "data-message": row.id }, [
    el("header", {}, [el("strong", {}, `#${row.id}`), ` ${row.attempts} attempt${row.attempts === 1 ? "" : "s"} · enqueued ${when(row.enqueued_at)}`,
      dead ? ` · dead since ${when(row.failed_at)}` : ""]),
    el("pre", { class: "payload" }, pretty(row.data)),
    history,
    dead ? el("div", { class: "buttons" }, [
      el("button", { type: "button", name: "redrive", onclick: () => act("redrive", [row.id]) }, "Redrive"),
      el("button", { type: "button", name: "discard", class: "danger", onclick: () => act("discard", [row.id]) }, "Discard"),
    ]) : null,
  ]);
}

async function messages(topic, functionId, step, parent) {
  const box = section(parent, `${topic} → ${step || functionId}`, { class: "messages" });
  const status = el("p", { class: "status-line" });
  const act = async (action, ids) => {
    try {
      const body = { topic, function_id: functionId };
      if (ids) body.ids = ids;
      const result = await api(`/__motia/api/queues/${action}`, { method: "POST", body });
      status.textContent = action === "redrive" ? `${result.redriven} redriven` : `${result.discarded} discarded`;
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (error) { status.textContent = error.message; status.className = "error"; }
  };
  let data;
  try {
    data = await api(`/__motia/api/queues/messages?topic=${encodeURIComponent(topic)}&function_id=${encodeURIComponent(functionId)}`);
  } catch (error) { failure(box, error); return; }
  box.append(status);
  el("h3", {}, `Dead letters (${data.dead.length})`, box);
  if (data.dead.length) {
    el("div", { class: "buttons" }, [
      el("button", { type: "button", name: "redrive-all", onclick: () => act("redrive") }, "Redrive all"),
      el("button", { type: "button", name: "discard-all", class: "danger", onclick: () => act("discard") }, "Discard all"),
    ], box);
  }
  el("div", { class: "list", "data-list": "dead" }, data.dead.map((row) => message(row, true, act)), box);
  el("h3", {}, `Pending (${data.pending.length})`, box);
  el("div", { class: "list", "data-list": "pending" }, data.pending.map((row) => message(row, false, act)), box);
}

function cron(jobs, parent) {
  const box = section(parent, "Cron", { class: "cron" });
  if (!jobs.length) { el("p", { class: "muted" }, "No cron jobs.", box); return; }
  const status = el("p", { class: "status-line" });
  const runNow = async (job) => {
    try {
      await api("/__motia/api/cron/run", { method: "POST", body: { function_id: job.function_id, expression: job.expression } });
      status.textContent = `${job.step || job.function_id} started`; status.className = "ok";
      setTimeout(() => window.dispatchEvent(new HashChangeEvent("hashchange")), 300);
    } catch (error) { status.textContent = error.message; status.className = "error"; }
  };
  box.append(status, table(["step", "schedule", "next fire", "recent runs", ""], jobs.map((job) =>
    el("tr", { "data-cron": job.step || job.function_id }, [
      el("td", {}, job.step || job.function_id),
      el("td", {}, el("code", {}, `${job.expression} (${job.timezone})`)),
      el("td", { "data-next": job.next_fire || "" }, when(job.next_fire)),
      el("td", {}, el("ol", { class: "runs" }, job.runs.slice().reverse().slice(0, 5).map((run) =>
        el("li", { class: run.outcome, "data-outcome": run.outcome }, [
          `${when(run.started)} ${run.outcome}`, run.duration_ms !== null ? ` ${run.duration_ms} ms` : "",
          run.manual ? " (run now)" : "", run.error ? ` — ${run.error}` : ""])))),
      el("td", {}, el("button", { type: "button", name: "run-now", disabled: job.running, onclick: () => runNow(job) }, "Run now")),
    ]))));
}

export async function render(root, args) {
  const [rows, jobs] = await Promise.all([api("/__motia/api/queues"), api("/__motia/api/cron")]);
  const chosen = args.length >= 2 ? args : null;
  subscriptions(rows, chosen, root);
  if (chosen) {
    const row = rows.find((r) => r.topic === chosen[0] && r.function_id === chosen[1]);
    await messages(chosen[0], chosen[1], row && row.step, root);
  }
  cron(jobs, root);
}

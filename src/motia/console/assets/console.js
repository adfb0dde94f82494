// The console's shell: the nav, hash routing (#/flows, #/state/orders/42, ...) and the pages.
// Each page is a module assets/NAME.js exporting `render(root, args)` (args: the URL-decoded parts of the hash
// after the page's name), which may return a function the shell calls when the page is left.
// Adding a page is one line in PAGES (and its file): the nav, the routing and the loading follow from it.
// `css`: a stylesheet of assets/ the page needs, linked the first time the page is shown.
import { api, el } from "./ui.js";

const PAGES = [
  { name: "flows", title: "Flows" },
  { name: "endpoints", title: "Endpoints" },
  { name: "state", title: "State" },
  { name: "streams", title: "Streams" },
  { name: "queues", title: "Queues & cron" },
  { name: "traces", title: "Traces" },
  { name: "logs", title: "Logs" },
];

const root = document.getElementById("page");
const nav = document.getElementById("nav");
let leave = null;
let shown = 0; // the latest navigation: an older one that finishes late must not draw over it

for (const page of PAGES) {
  el("a", { href: `#/${page.name}`, "data-page": page.name }, page.title, nav);
}

async function show() {
  const turn = ++shown;
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const page = PAGES.find((p) => p.name === parts[0]) || PAGES[0];
  document.body.dataset.ready = "false";
  document.body.dataset.page = page.name;
  for (const link of nav.children) link.classList.toggle("current", link.dataset.page === page.name);
  if (leave) { leave(); leave = null; }
  root.replaceChildren();
  try {
    if (page.css && !document.querySelector(`link[href$="/${page.css}"]`)) {
      el("link", { rel: "stylesheet", href: `/__motia/console/${page.css}` }, [], document.head);
    }
    const module = await import(`./${page.name}.js`);
    if (turn !== shown) return;
    const cleanup = await module.render(root, parts.slice(1));
    if (turn !== shown) { if (typeof cleanup === "function") cleanup(); return; }
    leave = typeof cleanup === "function" ? cleanup : null;
  } catch (error) {
    if (turn !== shown) return;
    root.replaceChildren(el("p", { class: "error" }, `This page failed: ${error.message}`));
  }
  // What the page now shows, for scripts (and tests) that wait for a navigation to finish.
  document.body.dataset.shown = location.hash;
  document.body.dataset.ready = "true";
}

api("/__motia/api/console").then((about) => {
  document.getElementById("app-title").textContent = about.title;
  document.title = `${about.title} · motia console`;
}).catch(() => {});
window.addEventListener("hashchange", show);
show();

(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var steps = {}, topics = {};
  data.steps.forEach(function (s) { steps[s.id] = s; });
  data.topics.forEach(function (t) { topics[t.id] = t; });
  var KINDS = ["api", "event", "cron", "state", "stream", "noop"];
  var LABEL = { api: "API", event: "EVENT", cron: "CRON", state: "STATE", stream: "STREAM", noop: "NOOP" };

  function el(name, attrs, parent, ns) {
    var node = ns === false ? document.createElement(name) : document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }
  function html(name, text, parent, attrs) {
    var node = el(name, attrs, parent, false);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function fit(text, width) {
    // Shorten a label until it fits its node; the full text stays in the tooltip and the details panel.
    var full = text.textContent;
    if (!text.getComputedTextLength || text.getComputedTextLength() <= width) return;
    var n = full.length;
    while (n > 1 && text.getComputedTextLength() > width) { n -= 1; text.textContent = full.slice(0, n) + "\u2026"; }
  }
  function curve(points, direction) {
    // Smooth through the route's points, leaving and entering each along the layout's direction.
    var d = "M" + points[0][0] + "," + points[0][1];
    for (var i = 1; i < points.length; i++) {
      var a = points[i - 1], b = points[i], dx = (b[0] - a[0]) / 2, dy = (b[1] - a[1]) / 2;
      d += direction === "TB"
        ? " C" + a[0] + "," + (a[1] + dy) + " " + b[0] + "," + (b[1] - dy) + " " + b[0] + "," + b[1]
        : " C" + (a[0] + dx) + "," + a[1] + " " + (b[0] - dx) + "," + b[1] + " " + b[0] + "," + b[1];
    }
    return d;
  }
  function count(n, noun) { return n + " " + noun + (n === 1 ? "" : "s"); }
  function edgeClass(edge) {
    return "edge " + edge.kind + (edge.virtual ? " virtual" : "") + (edge.conditional ? " conditional" : "");
  }

  function summary() {
    var box = document.getElementById("summary");
    var flows = data.flows.length;
    box.textContent = [count(data.steps.length, "step"), count(data.topics.length, "topic"),
      count(data.edges.length, "edge")].concat(flows ? [count(flows, "flow")] : []).join(" \u00b7 ");
    var legend = document.getElementById("legend");
    KINDS.concat(["topic"]).forEach(function (k) {
      var item = html("span", null, legend);
      el("i", { style: "border-color: var(--" + k + "); background: var(--" + k + "-bg)" }, item, false);
      item.appendChild(document.createTextNode(k === "topic" ? "topic" : LABEL[k]));
    });
    [["emits / subscribes", "solid var(--edge)"], ["virtual", "dashed var(--virtual)"],
     ["conditional", "solid var(--conditional)"]].forEach(function (pair) {
      var item = html("span", null, legend);
      el("i", { "class": "line", style: "border-top: 2px " + pair[1] }, item, false);
      item.appendChild(document.createTextNode(pair[0]));
    });
  }

  function markers(svg, sectionId) {
    var defs = el("defs", {}, svg);
    [["plain", "var(--edge)"], ["virtual", "var(--virtual)"], ["conditional", "var(--conditional)"]]
      .forEach(function (pair) {
        var marker = el("marker", { id: sectionId + "-arrow-" + pair[0], viewBox: "0 0 10 10", refX: "9",
          refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
        el("path", { d: "M0,0 L10,5 L0,10 z", style: "fill: " + pair[1] }, marker);
      });
  }

  function drawEdge(svg, section, edge, index, points) {
    var g = el("g", { "class": edgeClass(edge), "data-source": edge.source, "data-target": edge.target,
      "data-edge": String(index) }, svg);
    var kind = edge.conditional ? "conditional" : edge.virtual ? "virtual" : "plain";
    el("path", { d: curve(points, section.direction), "marker-end": "url(#" + section.id + "-arrow-" + kind + ")" }, g);
    var title = el("title", {}, g);
    title.textContent = edge.source.replace(/^\w+:/, "") + " \u2192 " + edge.target.replace(/^\w+:/, "") +
      (edge.virtual ? " (virtual)" : "") + (edge.conditional ? " (conditional)" : "");
    if (edge.label) {
      var i = Math.floor((points.length - 1) / 2), a = points[i], b = points[i + 1];
      var tb = section.direction === "TB";
      var label = el("text", { x: (a[0] + b[0]) / 2 + (tb ? 6 : 0), y: (a[1] + b[1]) / 2 + (tb ? 4 : -5),
        "text-anchor": tb ? "start" : "middle" }, g);
      label.textContent = edge.label;
    }
  }

  function drawStep(svg, step, box) {
    var x = box[0], y = box[1], w = box[2], h = box[3], kind = step.kinds[0];
    var g = el("g", { "class": "node step " + step.kinds.join(" "), "data-id": step.id, "data-step": step.name,
      transform: "translate(" + x + "," + y + ")" }, svg);
    el("rect", { width: w, height: h, rx: 8, style: "fill: var(--" + kind + "-bg); stroke: var(--" + kind + ")" }, g);
    var bx = 10;
    step.kinds.forEach(function (k) {
      var badge = el("g", { transform: "translate(" + bx + ",8)" }, g);
      var width = LABEL[k].length * 6.6 + 10;
      el("rect", { width: width, height: 15, rx: 3, style: "fill: var(--" + k + "); stroke: none" }, badge);
      var t = el("text", { "class": "badge", x: width / 2, y: 11, "text-anchor": "middle" }, badge);
      t.textContent = LABEL[k];
      bx += width + 4;
    });
    var name = el("text", { "class": "name", x: 10, y: 39 }, g);
    name.textContent = step.name;
    fit(name, w - 20);
    step.details.forEach(function (line, i) {
      var t = el("text", { "class": "detail", x: 10, y: 57 + 17 * i }, g);
      t.textContent = line;
      fit(t, w - 20);
    });
    var title = el("title", {}, g);
    title.textContent = step.name + (step.description ? "\n" + step.description : "") +
      (step.location ? "\n" + step.location : "");
    return g;
  }

  // A topic, or a stream or state group (`kind`: drawn in that kind's colours, named "stream todos").
  function nodeLabel(topic) {
    return topic.kind && topic.kind !== "topic" ? topic.kind + " " + topic.topic : topic.topic;
  }

  function drawTopic(svg, topic, box) {
    var kind = topic.kind || "topic";
    var dangling = kind === "topic" && (!topic.emitters.length || !topic.subscribers.length);
    var g = el("g", { "class": "node topic " + kind + (dangling ? " dangling" : ""), "data-id": topic.id,
      "data-topic": topic.topic, "data-kind": kind, transform: "translate(" + box[0] + "," + box[1] + ")" }, svg);
    el("rect", { width: box[2], height: box[3], rx: kind === "topic" ? box[3] / 2 : 6,
      style: "fill: var(--" + kind + "-bg); stroke: var(--" + kind + ")" }, g);
    var name = el("text", { "class": "name", x: box[2] / 2, y: box[3] / 2 + 4, "text-anchor": "middle" }, g);
    name.textContent = nodeLabel(topic);
    fit(name, box[2] - 24);
    var title = el("title", {}, g);
    title.textContent = kind === "topic" ? "topic " + topic.topic +
      (topic.subscribers.length ? "" : "\nno step subscribes to it") + (topic.emitters.length ? "" : "\nno step emits it")
      : nodeLabel(topic);
    return g;
  }

  function focus(svg, nodeId) {
    svg.classList.toggle("focus", nodeId !== null);
    svg.querySelectorAll(".lit").forEach(function (n) { n.classList.remove("lit"); });
    if (nodeId === null) return;
    svg.querySelectorAll(".edge").forEach(function (e) {
      var s = e.getAttribute("data-source"), t = e.getAttribute("data-target");
      if (s === nodeId || t === nodeId) {
        e.classList.add("lit");
        [s, t].forEach(function (id) {
          svg.querySelectorAll(".node").forEach(function (n) { if (n.getAttribute("data-id") === id) n.classList.add("lit"); });
        });
      }
    });
  }

  function details(nodeId) {
    var aside = document.getElementById("details");
    aside.textContent = "";
    document.querySelectorAll(".node.selected").forEach(function (n) { n.classList.remove("selected"); });
    if (nodeId === null) { aside.hidden = true; return; }
    document.querySelectorAll(".node").forEach(function (n) {
      if (n.getAttribute("data-id") === nodeId) n.classList.add("selected");
    });
    aside.hidden = false;
    var close = html("button", "\u00d7", aside, { title: "close" });
    close.addEventListener("click", function () { details(null); });
    var dl;
    function row(term, value) {
      if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return;
      html("dt", term, dl);
      html("dd", Array.isArray(value) ? value.join(", ") : value, dl);
    }
    var related = data.edges.filter(function (e) { return e.source === nodeId || e.target === nodeId; });
    function ends(kind, side, virtual) {
      return related.filter(function (e) { return e.kind === kind && !!e.virtual === virtual; }).map(function (e) {
        return e[side].replace(/^\w+:/, "") + (e.label ? " (" + e.label + ")" : "") + (e.conditional ? " (conditional)" : "");
      });
    }
    if (steps[nodeId]) {
      var s = steps[nodeId];
      html("h3", s.name, aside);
      dl = html("dl", null, aside);
      row("kind", s.kinds.map(function (k) { return LABEL[k]; }));
      row("triggers", s.details);
      row("subscribes", ends("subscribe", "source", false));
      row("emits", ends("emit", "target", false));
      row("virtual in", ends("subscribe", "source", true));
      row("virtual out", ends("emit", "target", true));
      row("flows", s.flows);
      row("about", s.description);
      row("source", s.location);
    } else {
      var t = topics[nodeId];
      var written = t.kind && t.kind !== "topic";
      html("h3", t.topic, aside);
      dl = html("dl", null, aside);
      row("kind", written ? (t.kind === "state" ? "state group" : "stream") : "topic");
      row(written ? "written by" : "emitted by", t.emitters.length ? t.emitters : "no step");
      row(written ? "triggers" : "consumed by", t.subscribers.length ? t.subscribers : "no step");
    }
  }

  function drawSection(section) {
    var wrap = html("section", null, document.getElementById("sections"),
      { "class": "flow", "data-section": section.id, "data-kind": section.kind });
    var heading = html("h2", section.name, wrap);
    var nodeIds = Object.keys(section.boxes);
    var stepCount = nodeIds.filter(function (id) { return steps[id]; }).length;
    html("small", count(stepCount, "step") + ", " + count(nodeIds.length - stepCount, "topic"), heading);
    var svg = el("svg", { width: section.width, height: section.height,
      viewBox: "0 0 " + section.width + " " + section.height, role: "img" }, wrap);
    el("title", {}, svg).textContent = "flow " + section.name;
    markers(svg, section.id);
    section.routes.forEach(function (pair) { drawEdge(svg, section, data.edges[pair[0]], pair[0], pair[1]); });
    nodeIds.forEach(function (id) {
      var g = steps[id] ? drawStep(svg, steps[id], section.boxes[id]) : drawTopic(svg, topics[id], section.boxes[id]);
      g.addEventListener("mouseenter", function () { focus(svg, id); });
      g.addEventListener("mouseleave", function () { focus(svg, null); });
      g.addEventListener("click", function (event) { event.stopPropagation(); details(id); });
    });
    return wrap;
  }

  function tabs(sectionNodes) {
    // "every flow", one tab per flow, "whole app"; the URL fragment (#checkout) picks one on load.
    var nav = document.getElementById("tabs");
    if (data.sections.length < 2) return;
    var choices = [["every flow", function (s) { return s.kind === "flow"; }]];
    data.sections.forEach(function (section) {
      if (section.kind === "flow") choices.push([section.name, function (s) { return s.id === section.id; }]);
    });
    choices.push(["whole app", function (s) { return s.kind === "all"; }]);
    var buttons = choices.map(function (choice) {
      var button = html("button", choice[0], nav, { type: "button", "aria-pressed": "false" });
      button.addEventListener("click", function () {
        show(choice, button);
        if (window.history && history.replaceState) history.replaceState(null, "", "#" + encodeURIComponent(choice[0]));
      });
      return button;
    });
    function show(choice, button) {
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", b === button ? "true" : "false"); });
      data.sections.forEach(function (s, i) { sectionNodes[i].hidden = !choice[1](s); });
    }
    var wanted = decodeURIComponent(location.hash.slice(1)), start = 0;
    choices.forEach(function (choice, i) { if (choice[0] === wanted) start = i; });
    show(choices[start], buttons[start]);
  }

  function zoom() {
    // Wide flows shrink to the window by default; "actual size" draws them 1:1 with a scroll bar.
    var button = html("button", "actual size", document.getElementById("tools"),
      { type: "button", "aria-pressed": "false", title: "fit to the window or draw at 100%" });
    button.addEventListener("click", function () {
      var actual = document.body.classList.toggle("actual-size");
      button.setAttribute("aria-pressed", actual ? "true" : "false");
    });
  }

  summary();
  var sectionNodes = data.sections.map(drawSection);
  tabs(sectionNodes);
  zoom();
  document.addEventListener("click", function () { details(null); });
  document.body.setAttribute("data-rendered", "true");
})();

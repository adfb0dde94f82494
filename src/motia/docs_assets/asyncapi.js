// motia's AsyncAPI page: fetches the app's AsyncAPI 3.0 document and lists its channels (one per topic) with the
// steps that publish (send) and consume (receive) each, and the payload schema. No dependencies, no network
// beyond the app itself. Sets <body data-rendered="true"> when done (the browser test waits for it).
(function () {
  "use strict";
  var root = document.getElementById("asyncapi");
  var url = document.body.getAttribute("data-document");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function refName(ref) { return ref.split("/").pop(); }

  function resolve(doc, value) {
    // Follows local `#/...` references (the document's channels, messages and schemas).
    var seen = 0;
    while (value && value.$ref && seen++ < 20) {
      value = value.$ref.slice(2).split("/").reduce(function (at, part) {
        return at ? at[part.replace(/~1/g, "/").replace(/~0/g, "~")] : undefined;
      }, doc);
    }
    return value;
  }

  function typeOf(schema) {
    if (!schema || Object.keys(schema).length === 0) return "any JSON value";
    if (schema.$ref) return refName(schema.$ref);
    if (schema.anyOf || schema.oneOf) return (schema.anyOf || schema.oneOf).map(typeOf).join(" | ");
    if (schema.enum) return schema.enum.map(function (v) { return JSON.stringify(v); }).join(" | ");
    if (schema.type === "array") return "array of " + typeOf(schema.items || {});
    if (Array.isArray(schema.type)) return schema.type.join(" | ");
    return schema.type || "object";
  }

  function schemaTree(schema) {
    var list = el("ul", {class: "schema"});
    var required = (schema && schema.required) || [];
    Object.keys((schema && schema.properties) || {}).forEach(function (name) {
      var item = el("li", {}, [name + ": ", el("span", {class: "type"}, [typeOf(schema.properties[name])])]);
      if (required.indexOf(name) >= 0) item.appendChild(el("span", {class: "required"}, ["required"]));
      list.appendChild(item);
    });
    if (!list.firstChild) list.appendChild(el("li", {}, [el("span", {class: "type"}, [typeOf(schema)])]));
    return list;
  }

  function render(doc) {
    var info = doc.info || {};
    root.textContent = "";
    root.appendChild(el("h1", {}, [info.title || "topics", el("span", {class: "version"}, ["AsyncAPI " +
      doc.asyncapi + (info.version ? " · " + info.version : "")])]));
    root.appendChild(el("p", {class: "intro"}, [info.description ||
      "The app's topics: the steps that emit each one, the steps it triggers and its payload."]));
    var operations = doc.operations || {};
    var channels = doc.channels || {};
    Object.keys(channels).forEach(function (key) {
      var channel = channels[key];
      var section = el("section", {class: "channel", id: "channel-" + key, "data-channel": channel.address});
      section.appendChild(el("h2", {}, [channel.address]));
      if (channel.description) section.appendChild(el("p", {class: "note"}, [channel.description]));
      ["send", "receive"].forEach(function (action) {
        var items = Object.keys(operations).filter(function (id) {
          var op = operations[id];
          return op.action === action && op.channel && op.channel.$ref === "#/channels/" + key;
        }).map(function (id) {
          var op = operations[id];
          var step = op["x-motia-step"] || id;
          var parts = [el("span", {class: "action"}, [action]), el("span", {class: "step"}, [step])];
          if (op.summary) parts.push(" — " + op.summary);
          if (op["x-motia-virtual"]) parts.push(el("span", {class: "note"}, [" (virtual: documentation only)"]));
          return el("li", {class: "operation", "data-action": action, "data-step": step}, parts);
        });
        section.appendChild(el("h3", {}, [action === "send" ? "Emitted by" : "Consumed by"]));
        section.appendChild(items.length ? el("ul", {}, items) :
          el("p", {class: "note"}, [action === "send" ? "No step declares it emits this topic." :
            "No step consumes this topic."]));
      });
      var messages = Object.keys(channel.messages || {}).map(function (name) {
        return resolve(doc, channel.messages[name]);
      });
      section.appendChild(el("h3", {}, ["Payload"]));
      messages.forEach(function (message) { section.appendChild(schemaTree(resolve(doc, (message || {}).payload))); });
      root.appendChild(section);
    });
    var schemas = (doc.components || {}).schemas || {};
    Object.keys(schemas).forEach(function (name) {
      var section = el("section", {class: "schema-definition", id: "schema-" + name, "data-schema": name});
      section.appendChild(el("h2", {}, [name]));
      section.appendChild(schemaTree(schemas[name]));
      root.appendChild(section);
    });
    if (!Object.keys(channels).length) root.appendChild(el("p", {class: "note"}, ["This app has no topics."]));
    document.body.setAttribute("data-rendered", "true");
  }

  fetch(url).then(function (response) {
    if (!response.ok) throw new Error(url + " answered " + response.status);
    return response.json();
  }).then(render).catch(function (error) {
    root.textContent = "";
    root.appendChild(el("p", {class: "error"}, ["Could not load the AsyncAPI document: " + error.message]));
    document.body.setAttribute("data-rendered", "error");
  });
})();

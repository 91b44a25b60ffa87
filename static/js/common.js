// Small helpers shared by the editor's pages: the API with the session's CSRF token, building DOM
// nodes, messages a person can read. No framework, no build step.
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // The reason a DRF error body gives, as one line: {"image": ["..."]}, {"detail": "..."}, ["..."].
  function reason(body, fallback) {
    if (!body) return fallback || "something went wrong";
    if (typeof body === "string") return body;
    if (Array.isArray(body)) return body.map((item) => reason(item)).join(" ");
    if (body.detail) return String(body.detail);
    const parts = [];
    for (const [key, value] of Object.entries(body)) {
      const text = reason(value);
      parts.push(key === "non_field_errors" ? text : `${key}: ${text}`);
    }
    return parts.join("; ") || fallback || "something went wrong";
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(reason(body, `the server answered ${status}`));
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, { method = "GET", body, form } = {}) {
    const headers = { Accept: "application/json" };
    const options = { method, headers, credentials: "same-origin" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    if (form) options.body = form;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // Every page of a paginated list (DRF's PageNumberPagination), up to `limit` items.
  async function apiAll(path, limit = 500) {
    const items = [];
    let next = path;
    while (next && items.length < limit) {
      const page = await api(next);
      if (Array.isArray(page)) return page;
      items.push(...page.results);
      next = page.next;
    }
    return items;
  }

  // el("div", {class: "card", dataset: {testid: "x"}}, child, "text")
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // A status line: kind is "info", "ok" or "error".
  function say(node, text, kind = "info") {
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
    node.className = `notice notice-${kind}`;
    node.setAttribute("role", kind === "error" ? "alert" : "status");
  }

  function label(name) {
    return String(name).replace(/_/g, " ");
  }

  function when(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleString(undefined, {
      dateStyle: "medium", timeStyle: "short" });
  }

  // A preview frame (editing/frames.py): 4-byte header length, JSON header, then the image bytes.
  function decodeFrame(buffer) {
    const headerLength = new DataView(buffer).getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
    const type = header.kind === "final" ? "image/png" : "image/jpeg";
    return { header, image: new Blob([new Uint8Array(buffer, 4 + headerLength)], { type }) };
  }

  window.FaceLab = { api, apiAll, ApiError, csrfToken, decodeFrame, el, reason, say, label, when };
})();

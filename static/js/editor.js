// The editor: the aligned photo, a method chooser over the active model versions, controls built
// from the version's controls schema, live previews over /ws/edit/<photo>/ (one request in flight
// plus one trailing request, sequence numbers, only newer frames drawn), before/after, a history
// with undo/redo, and "save as recipe".
(function () {
  "use strict";
  const { api, apiAll, el, say, label } = window.FaceLab;
  const { benchmarksOf, build, defaults, format, titleOf } = window.FaceLab.controls;
  const root = document.getElementById("editor");
  const photoId = root.dataset.photo;
  const methodSelect = document.getElementById("method-select");
  const badge = document.getElementById("method-badge");
  const methodInfo = document.getElementById("method-info");
  const form = document.getElementById("controls");
  const beforeImage = document.getElementById("before-image");
  const afterImage = document.getElementById("after-image");
  const alignedThumb = document.getElementById("aligned-thumb");
  const stageLabel = document.getElementById("stage-label");
  const busy = document.getElementById("stage-busy");
  const frameInfo = document.getElementById("frame-info");
  const message = document.getElementById("editor-message");
  const toggle = document.getElementById("before-after");
  const historyList = document.getElementById("history");
  const undoButton = document.getElementById("undo");
  const redoButton = document.getElementById("redo");
  const STALL_MS = 20000;
  const MAX_HISTORY = 200;

  let photo = null;
  let versions = [];
  let version = null; // the chosen model version
  const valuesByVersion = {}; // each version's controls, kept when switching methods
  let widgets = null;
  const history = []; // [{versionId, values, text}]
  let at = -1;

  // --- the preview socket -------------------------------------------------------------------------
  let socket = null;
  let retries = 0;
  let encodedFor = null; // the model version the worker has encoded this photo for
  let nextSeq = 1;
  let drawnSeq = 0;
  let inFlight = false;
  let trailing = null; // {final} when a request waits behind the one in flight
  let stallTimer = null;
  let lastUrl = null;
  const sentAt = new Map();

  function values() {
    return valuesByVersion[version.id];
  }

  function steps() {
    return [{ method: version.method, model_version: version.id, controls: { ...values() } }];
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/edit/${encodeURIComponent(photoId)}/`);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string") onMessage(JSON.parse(event.data));
      else onFrame(event.data);
    });
    socket.addEventListener("close", (event) => {
      inFlight = false;
      encodedFor = null;
      clearTimeout(stallTimer);
      if (event.code === 4401 || event.code === 4403) {
        say(message, "The preview connection was refused: log in again, or this photo is not yours.", "error");
        frameInfo.textContent = "disconnected";
        return;
      }
      if (retries >= 6) {
        say(message, "The preview connection was lost. Reload the page to try again.", "error");
        frameInfo.textContent = "disconnected";
        return;
      }
      retries += 1;
      frameInfo.textContent = "connection lost, reconnecting…";
      setTimeout(connect, Math.min(8000, 500 * 2 ** retries));
    });
  }

  let encodeTimer = null;
  let firstFrameRetries = 0;
  const ENCODE_MS = 30000;

  // An error notice with a "Try again" button that encodes and renders again.
  function failed(text) {
    say(message, text, "error");
    message.append(" ", el("button", { type: "button", class: "secondary small", dataset: { testid: "retry" },
      onclick: () => { say(message, ""); encode(); } }, "Try again"));
  }

  function encode() {
    if (!socket || socket.readyState !== WebSocket.OPEN || !version) return;
    encodedFor = null;
    busy.hidden = false;
    clearTimeout(encodeTimer);
    encodeTimer = setTimeout(() => {
      busy.hidden = true;
      frameInfo.textContent = "no answer";
      failed(`No worker answered in ${ENCODE_MS / 1000} s while encoding the photo; the renderer may be down.`);
    }, ENCODE_MS);
    frameInfo.textContent = `encoding the photo for ${version.method}…`;
    socket.send(JSON.stringify({ type: "encode", steps: [{ method: version.method, model_version: version.id }] }));
  }

  function onMessage(data) {
    if (data.type === "hello") {
      retries = 0;
      root.dataset.renderMode = data.render_mode;
      encode();
    } else if (data.type === "encoded") {
      if (version && data.model_version === version.id) {
        clearTimeout(encodeTimer);
        encodedFor = version.id;
        requestPreview(true);
      }
    } else if (data.type === "error") {
      busy.hidden = true;
      if (data.seq !== undefined) {
        inFlight = false;
        clearTimeout(stallTimer);
      }
      if (data.seq === undefined) clearTimeout(encodeTimer);
      frameInfo.textContent = data.seq !== undefined ? `#${data.seq} failed` : "error";
      if (data.seq !== undefined && drawnSeq === 0 && !trailing && firstFrameRetries < 2) {
        // The first frame can miss a worker that is still starting: ask once more before giving up.
        firstFrameRetries += 1;
        say(message, `${data.error} Asking again…`);
        message.dataset.transient = "true";
        setTimeout(() => requestPreview(true), 1500);
        return;
      }
      failed(data.error);
      sendTrailing();
    }
  }

  function requestPreview(final) {
    if (!version) return;
    if (!socket || socket.readyState !== WebSocket.OPEN || encodedFor !== version.id) return; // after "encoded"
    if (inFlight) {
      trailing = { final: Boolean(final) || Boolean(trailing && trailing.final) };
      return;
    }
    send(final);
  }

  function send(final) {
    inFlight = true;
    const seq = nextSeq++;
    sentAt.set(seq, performance.now());
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      inFlight = false;
      busy.hidden = true;
      failed("The renderer is not answering. Is a preview worker running?");
    }, STALL_MS);
    busy.hidden = false;
    socket.send(JSON.stringify({ type: "preview", seq, steps: steps(), final: Boolean(final) }));
  }

  function sendTrailing() {
    if (!trailing) return;
    const { final } = trailing;
    trailing = null;
    requestPreview(final);
  }

  function onFrame(buffer) {
    const { header, image } = window.FaceLab.decodeFrame(buffer);
    inFlight = false;
    clearTimeout(stallTimer);
    if (!trailing) busy.hidden = true;
    sendTrailing();
    if (header.seq <= drawnSeq) return; // a late frame never overwrites a newer one
    drawnSeq = header.seq;
    if (lastUrl) URL.revokeObjectURL(lastUrl);
    lastUrl = URL.createObjectURL(image);
    afterImage.src = lastUrl;
    afterImage.dataset.seq = String(header.seq);
    afterImage.dataset.kind = header.kind;
    if (message.classList.contains("notice-error") || message.dataset.transient) {
      say(message, "");
      delete message.dataset.transient;
    }
    const roundTrip = sentAt.has(header.seq) ? Math.round(performance.now() - sentAt.get(header.seq)) : null;
    for (const seq of sentAt.keys()) if (seq <= header.seq) sentAt.delete(seq);
    const parts = [`#${header.seq}`, header.kind, `${header.width}×${header.height}`];
    if (header.queue_ms !== undefined) parts.push(`queue ${Math.round(header.queue_ms)} ms`);
    parts.push(`render ${Math.round(header.render_ms)} ms`);
    if (header.encode_ms !== undefined) parts.push(`encode ${Math.round(header.encode_ms)} ms`);
    if (roundTrip !== null) parts.push(`round trip ${roundTrip} ms`);
    frameInfo.textContent = parts.join(" · ");
  }

  // --- methods and controls ----------------------------------------------------------------------
  function versionLabel(v) {
    return `${label(v.method)} · ${v.name}${v.metrics && v.metrics.untrained ? " (untrained)" : ""}`;
  }

  function showVersion(next) {
    version = next;
    methodSelect.value = String(version.id);
    if (!valuesByVersion[version.id]) valuesByVersion[version.id] = defaults(version.controls_schema || {});
    badge.hidden = !(version.metrics && version.metrics.untrained);
    const crop = photo.crops[version.alignment];
    if (crop) {
      beforeImage.src = crop.url;
      alignedThumb.src = crop.url;
      if (!afterImage.dataset.seq || afterImage.dataset.seq === "0") {
        afterImage.src = crop.url;
        afterImage.dataset.seq = "0";
      }
    }
    methodInfo.textContent = `${version.image_size} px, ${version.alignment}-aligned` +
      (badge.hidden ? "" : ". Not trained yet: previews look like noise until a trained model is registered.");
    widgets = build(form, version.controls_schema || {}, values(), { onInput, onCommit, pickExemplar },
      benchmarksOf(version.metrics));
  }

  function onInput(name, value) {
    values()[name] = value;
    requestPreview(false);
  }

  function onCommit(name, value) {
    values()[name] = value;
    const spec = (version.controls_schema.properties || {})[name] || {};
    record(`${titleOf(name, spec)} → ${format(spec, value)}`);
    requestPreview(true);
  }

  methodSelect.addEventListener("change", () => {
    const next = versions.find((v) => String(v.id) === methodSelect.value);
    if (!next || next === version) return;
    showVersion(next);
    record(`Method → ${label(next.method)}`);
    encode();
  });

  // --- history -------------------------------------------------------------------------------------
  function record(text) {
    const entry = { versionId: version.id, values: { ...values() }, text };
    const last = history[at];
    if (last && last.versionId === entry.versionId && JSON.stringify(last.values) === JSON.stringify(entry.values)) return;
    history.splice(at + 1);
    history.push(entry);
    if (history.length > MAX_HISTORY) history.shift();
    at = history.length - 1;
    renderHistory();
  }

  function goTo(index) {
    if (index < 0 || index >= history.length || index === at) return;
    at = index;
    const entry = history[at];
    const changed = entry.versionId !== version.id;
    valuesByVersion[entry.versionId] = { ...entry.values };
    if (changed) {
      showVersion(versions.find((v) => v.id === entry.versionId));
      encode();
    } else {
      widgets.set(values());
      requestPreview(true);
    }
    renderHistory();
  }

  function renderHistory() {
    historyList.replaceChildren(...history.map((entry, index) => el("li", {
      class: index === at ? "current" : index > at ? "undone" : "",
      "aria-current": index === at ? "step" : null,
    }, el("button", { type: "button", class: "linkish", onclick: () => goTo(index) }, entry.text))));
    undoButton.disabled = at <= 0;
    redoButton.disabled = at >= history.length - 1;
    historyList.dataset.count = String(history.length);
    const current = historyList.children[at];
    if (current) { // keep the current entry in view inside the list, without scrolling the page
      const top = current.offsetTop; // the list is positioned: offsets are inside it
      if (top < historyList.scrollTop) historyList.scrollTop = top;
      else if (top + current.offsetHeight > historyList.scrollTop + historyList.clientHeight) {
        historyList.scrollTop = top + current.offsetHeight - historyList.clientHeight;
      }
    }
  }

  undoButton.addEventListener("click", () => goTo(at - 1));
  redoButton.addEventListener("click", () => goTo(at + 1));
  document.getElementById("reset").addEventListener("click", () => {
    valuesByVersion[version.id] = defaults(version.controls_schema || {});
    widgets.set(values());
    record("Reset to defaults");
    requestPreview(true);
  });
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" &&
      !["range", "checkbox", "radio", "button"].includes(target.type)));
    if (typing || !(event.ctrlKey || event.metaKey)) return;
    const key = event.key.toLowerCase();
    if (key === "z" && !event.shiftKey) { event.preventDefault(); goTo(at - 1); }
    else if ((key === "z" && event.shiftKey) || key === "y") { event.preventDefault(); goTo(at + 1); }
  });

  // --- before / after ------------------------------------------------------------------------------
  function showBefore(before) {
    beforeImage.hidden = !before;
    afterImage.hidden = before;
    toggle.setAttribute("aria-pressed", String(before));
    toggle.textContent = before ? "Show after" : "Show before";
    stageLabel.textContent = before ? "before" : "after";
  }
  toggle.addEventListener("click", () => showBefore(toggle.getAttribute("aria-pressed") !== "true"));

  // --- the exemplar picker ---------------------------------------------------------------------------
  const dialog = document.getElementById("exemplar-dialog");
  const pickerGrid = document.getElementById("picker-grid");
  const pickerInfo = document.getElementById("picker-info");
  const galleries = {};

  function pickExemplar(name, spec, current) {
    const attribute = spec.attribute || "";
    document.getElementById("picker-title").textContent = `${titleOf(name, spec)}`;
    pickerInfo.textContent = "Loading the gallery…";
    pickerGrid.replaceChildren();
    return new Promise((resolve) => {
      let picked;
      const choose = (value) => { picked = value; dialog.close(); };
      dialog.addEventListener("close", () => resolve(picked), { once: true });
      dialog.showModal();
      const query = attribute ? `?attribute=${encodeURIComponent(attribute)}` : "";
      (galleries[attribute] ||= apiAll(`/api/exemplars/${query}`, 200)).then((items) => {
        pickerInfo.replaceChildren(items.length
          ? `${items.length} exemplar${items.length > 1 ? "s" : ""}${attribute ? ` showing ${label(attribute)}` : ""}. `
          : `No exemplars${attribute ? ` of ${label(attribute)}` : ""} yet. `,
        el("a", { href: `/gallery/${attribute ? `?attribute=${encodeURIComponent(attribute)}` : ""}`, target: "_blank" },
          "Add your own in the gallery"));
        const none = el("li", {}, el("button", { type: "button", class: "picker-item picker-none",
          "aria-pressed": String(!current), dataset: { testid: "exemplar-none" }, onclick: () => choose(null) },
        el("span", { class: "picker-none-mark", "aria-hidden": "true" }, "∅"), el("span", {}, "None")));
        const presets = (spec.presets || []).map((preset) => el("li", {}, el("button", { type: "button",
          class: "picker-item picker-none", "aria-pressed": String(preset.value === current),
          dataset: { testid: "exemplar-preset", exemplar: preset.value }, onclick: () => choose(preset.value) },
        el("span", { class: "picker-none-mark", "aria-hidden": "true" }, "μ"), el("span", {}, preset.label))));
        pickerGrid.replaceChildren(none, ...presets, ...items.map((item) => el("li", {}, el("button", {
          type: "button", class: "picker-item", "aria-pressed": String(item.id === current),
          dataset: { testid: "exemplar-option", exemplar: item.id }, onclick: () => choose(item.id),
        }, el("img", { src: item.image_url, alt: item.title || `${label(item.attribute)} ${item.style}`, loading: "lazy" }),
        el("span", {}, item.style ? label(item.style) : (item.title || label(item.attribute)))))));
      }).catch((error) => {
        delete galleries[attribute];
        pickerInfo.textContent = `Could not load the gallery: ${error.message}`;
      });
    });
  }

  // --- save as recipe ----------------------------------------------------------------------------------
  const saveForm = document.getElementById("save-form");
  const saveMessage = document.getElementById("save-message");
  saveForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = saveForm.querySelector("button[type=submit]");
    button.disabled = true;
    say(saveMessage, "Saving…");
    try {
      const recipe = await api("/api/recipes/", { method: "POST", body: {
        title: saveForm.title.value.trim(), visibility: saveForm.visibility.value, steps: steps(), source_photo: photoId } });
      say(saveMessage, "Saved. Opening the recipe…", "ok");
      location.href = `/recipes/${encodeURIComponent(recipe.id)}/`;
    } catch (error) {
      button.disabled = false;
      say(saveMessage, `Not saved: ${error.message}`, "error");
    }
  });

  // --- start ----------------------------------------------------------------------------------------
  async function start() {
    try {
      [photo, versions] = await Promise.all([api(`/api/photos/${encodeURIComponent(photoId)}/`),
        apiAll("/api/model-versions/?active=true")]);
    } catch (error) {
      say(message, `The editor could not start: ${error.message}`, "error");
      return;
    }
    versions = versions.filter((v) => photo.crops[v.alignment]);
    if (!versions.length) {
      say(message, "No model version is active for this photo's alignment yet: an administrator registers one.", "error");
      frameInfo.textContent = "no method";
      return;
    }
    methodSelect.replaceChildren(...versions.map((v) => el("option", { value: String(v.id) }, versionLabel(v))));
    const wanted = new URLSearchParams(location.search).get("method");
    showVersion(versions.find((v) => v.method === wanted) || versions[0]);
    record("Opened");
    connect();
  }
  start();
})();

// A recipe: its steps, lineage, fork, share link (owner), and "apply to my photos" as a background
// job with a progress bar and downloads. A link-shared recipe carries ?share=TOKEN to every call.
(function () {
  "use strict";
  const { api, apiAll, el, say, label, when } = window.FaceLab;
  const { defaults, format, titleOf, widgetOf } = window.FaceLab.controls;
  const root = document.getElementById("recipe");
  const recipeId = encodeURIComponent(root.dataset.recipe);
  const share = root.dataset.share;
  const shareQuery = share ? `?share=${encodeURIComponent(share)}` : "";
  const message = document.getElementById("recipe-message");
  const versions = {};
  let myPhotos = [];

  function version(id) {
    return (versions[id] ||= api(`/api/model-versions/${id}/`).catch(() => null));
  }

  function controlItem(name, spec, value) {
    const shown = widgetOf(spec) === "exemplar" && value
      ? el("img", { class: "exemplar-thumb", src: `/api/exemplars/${encodeURIComponent(value)}/image/`,
        alt: `exemplar ${value}` })
      : format(spec, value);
    return [el("dt", {}, titleOf(name, spec)), el("dd", {}, shown)];
  }

  async function renderSteps(steps) {
    const list = document.getElementById("steps");
    const items = await Promise.all(steps.map(async (step, index) => {
      const v = await version(step.model_version);
      const schema = (v && v.controls_schema) || { properties: {} };
      const standard = defaults(schema);
      const changed = [];
      const unchanged = [];
      for (const [name, value] of Object.entries(step.controls || {})) {
        const spec = (schema.properties || {})[name] || {};
        (JSON.stringify(value) === JSON.stringify(standard[name]) ? unchanged : changed).push(controlItem(name, spec, value));
      }
      return el("li", { class: "step", dataset: { testid: "step" } },
        el("div", { class: "step-head" },
          el("strong", {}, `${index + 1}. ${label(step.method)}`),
          el("span", { class: "muted small" }, v ? `model ${v.name} (#${v.id})` : `model #${step.model_version}`),
          v && v.metrics && v.metrics.untrained ? el("span", { class: "badge badge-warn" }, "untrained") : null),
        changed.length ? el("dl", { class: "control-list" }, changed.flat())
          : el("p", { class: "muted small" }, "Every control at its default."),
        unchanged.length ? el("details", { class: "small" },
          el("summary", {}, `${unchanged.length} control${unchanged.length > 1 ? "s" : ""} at the default`),
          el("dl", { class: "control-list" }, unchanged.flat())) : null);
    }));
    list.replaceChildren(...items);
  }

  async function renderLineage(recipe) {
    const list = document.getElementById("lineage");
    try {
      const ancestors = await api(`/api/recipes/${recipeId}/lineage/${shareQuery}`);
      const here = el("li", { class: "current" }, el("strong", {}, recipe.title), ` by ${recipe.owner}`, el("span", { class: "muted small" }, " (this recipe)"));
      list.replaceChildren(here, ...ancestors.map((item) => el("li", { dataset: { testid: "lineage-item" } },
        "forked from ", item.visible
          ? el("a", { href: `/recipes/${encodeURIComponent(item.id)}/` }, item.title)
          : el("span", { class: "muted" }, item.title),
        item.owner ? ` by ${item.owner}` : "")));
      if (!ancestors.length) list.append(el("li", { class: "muted small" }, "an original: not forked from another recipe"));
    } catch (error) {
      list.replaceChildren(el("li", { class: "muted" }, `lineage unavailable: ${error.message}`));
    }
  }

  function renderShare(recipe) {
    const select = document.getElementById("visibility");
    if (!select) return;
    select.value = recipe.visibility;
    const box = document.getElementById("share-box");
    const input = document.getElementById("share-url");
    box.hidden = !recipe.share_url;
    input.value = recipe.share_url ? new URL(recipe.share_url, location.origin).href : "";
    const badge = document.querySelector("[data-testid=recipe-visibility]");
    badge.textContent = { private: "Only the owner", link: "Anyone with the link", public: "Everyone" }[recipe.visibility];
    badge.className = `badge badge-${recipe.visibility}`;
  }

  function setUpShare() {
    const select = document.getElementById("visibility");
    if (!select) return;
    select.addEventListener("change", async () => {
      try {
        const recipe = await api(`/api/recipes/${recipeId}/`, { method: "PATCH", body: { visibility: select.value } });
        renderShare(recipe);
        say(message, recipe.visibility === "link" ? "Anyone with the share link can now see and apply it."
          : recipe.visibility === "public" ? "Everyone can now find this recipe." : "Only you can see it now.", "ok");
      } catch (error) {
        say(message, `Not changed: ${error.message}`, "error");
      }
    });
    document.getElementById("copy-share").addEventListener("click", async () => {
      const input = document.getElementById("share-url");
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        say(message, "Share link copied.", "ok");
      } catch (error) {
        document.execCommand("copy");
      }
    });
  }

  document.getElementById("fork").addEventListener("click", async (event) => {
    event.target.disabled = true;
    try {
      const fork = await api(`/api/recipes/${recipeId}/fork/${shareQuery}`, { method: "POST" });
      location.href = `/recipes/${encodeURIComponent(fork.id)}/`;
    } catch (error) {
      event.target.disabled = false;
      say(message, `Could not fork it: ${error.message}`, "error");
    }
  });

  // --- apply to my photos ------------------------------------------------------------------------
  const applyForm = document.getElementById("apply-form");
  const applyButton = document.getElementById("apply");

  function chosen() {
    return [...applyForm.querySelectorAll("input[name=photo]:checked")].map((box) => box.value);
  }

  function updateApply() {
    const count = chosen().length;
    applyButton.disabled = count === 0;
    applyButton.textContent = count ? `Apply to ${count} photo${count > 1 ? "s" : ""}` : "Apply";
  }

  async function loadPhotos() {
    try {
      myPhotos = (await apiAll("/api/photos/")).filter((photo) => photo.status === "ready");
    } catch (error) {
      say(message, `Could not load your photos: ${error.message}`, "error");
      return;
    }
    const grid = document.getElementById("apply-photos");
    grid.replaceChildren(...myPhotos.map((photo, index) => el("li", { class: "card pick-card" },
      el("label", { class: "pick-label", dataset: { testid: "apply-photo", photo: photo.id } },
        el("input", { type: "checkbox", name: "photo", value: photo.id, onchange: updateApply }),
        el("img", { src: photo.image_url, alt: "", loading: "lazy" }),
        el("span", { class: "card-title" }, photo.title || `photo ${index + 1}`)))));
    document.getElementById("apply-empty").hidden = myPhotos.length > 0;
    updateApply();
  }

  document.getElementById("select-all").addEventListener("click", () => {
    const boxes = [...applyForm.querySelectorAll("input[name=photo]")];
    const all = boxes.every((box) => box.checked);
    boxes.forEach((box) => { box.checked = !all; });
    updateApply();
  });

  applyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const photos = chosen();
    if (!photos.length) return;
    applyButton.disabled = true;
    try {
      const job = await api(`/api/recipes/${recipeId}/apply/${shareQuery}`, { method: "POST", body: { photos } });
      say(message, "");
      follow(job);
    } catch (error) {
      say(message, `Could not apply it: ${error.message}`, "error");
      updateApply();
    }
  });

  function renderJob(job) {
    const box = document.getElementById("job");
    box.hidden = false;
    box.dataset.status = job.status;
    box.dataset.job = job.id;
    const finished = job.status === "done" || job.status === "failed";
    document.getElementById("job-status").textContent = {
      queued: "Waiting for a worker…", running: "Editing your photos…", done: "Done", failed: "Failed" }[job.status] || job.status;
    const bar = document.getElementById("job-progress");
    bar.max = Math.max(1, job.total);
    bar.value = job.done;
    document.getElementById("job-count").textContent = `${job.done} of ${job.total}`;
    const error = document.getElementById("job-error");
    error.hidden = !job.error;
    error.textContent = job.error || "";
    const results = document.getElementById("job-results");
    results.replaceChildren(...(job.results || []).map((result) => {
      const photo = myPhotos.find((p) => p.id === result.photo);
      const name = (photo && photo.title) || result.photo;
      return el("li", { class: "card result-card", dataset: { testid: "job-result", photo: result.photo } },
        result.url ? el("img", { src: result.url, alt: `${name}, edited`, class: "result-image" }) : null,
        el("div", { class: "card-body" }, el("strong", { class: "card-title" }, name),
          result.error ? el("span", { class: "error-text small" }, result.error) : null),
        result.url ? el("div", { class: "card-actions" }, el("a", { class: "button small", href: result.url,
          download: `${result.photo}.png`, dataset: { testid: "result-download" } }, "Download PNG")) : null);
    }));
    const zip = document.getElementById("job-zip");
    zip.hidden = !job.archive_url;
    if (job.archive_url) zip.href = job.archive_url;
    if (finished) updateApply();
    return finished;
  }

  async function follow(job) {
    let delay = 600;
    while (!renderJob(job)) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(2500, delay * 1.3);
      try {
        job = await api(`/api/jobs/${encodeURIComponent(job.id)}/`);
      } catch (error) {
        say(message, `Lost track of the job: ${error.message}. Retrying…`, "error");
      }
    }
  }

  async function start() {
    let recipe;
    try {
      recipe = await api(`/api/recipes/${recipeId}/${shareQuery}`);
    } catch (error) {
      say(message, `Could not load the recipe: ${error.message}`, "error");
      return;
    }
    root.dataset.loaded = "true";
    renderShare(recipe);
    setUpShare();
    await Promise.all([renderSteps(recipe.steps), renderLineage(recipe), loadPhotos()]);
  }
  start();
})();

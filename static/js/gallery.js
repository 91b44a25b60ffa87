// The exemplar gallery: filter by attribute, style and source; add your own; delete yours.
(function () {
  "use strict";
  const { api, el, say, label } = window.FaceLab;
  const filters = document.getElementById("filters");
  const grid = document.getElementById("gallery");
  const more = document.getElementById("gallery-more");
  const message = document.getElementById("gallery-message");
  const username = (document.querySelector("[data-testid=username]") || {}).textContent;
  let next = null;

  function card(item) {
    const mine = item.owner && item.owner === username;
    return el("li", { class: "gallery-item", dataset: { testid: "exemplar", exemplar: item.id, attribute: item.attribute } },
      el("img", { src: item.image_url, alt: item.title || `${label(item.attribute)} ${item.style}`, loading: "lazy" }),
      el("div", { class: "gallery-caption" },
        el("strong", {}, label(item.attribute)),
        item.style ? el("span", { class: "muted small" }, label(item.style)) : null,
        el("span", { class: `badge ${item.source === "synthetic" ? "" : "badge-ok"}` }, mine ? "yours" : item.source)),
      mine ? el("button", { type: "button", class: "danger small", onclick: async () => {
        if (!window.confirm("Delete this exemplar? Recipes that use it stop working for others.")) return;
        try {
          await api(`/api/exemplars/${encodeURIComponent(item.id)}/`, { method: "DELETE" });
          load();
        } catch (error) {
          say(message, `Not deleted: ${error.message}`, "error");
        }
      } }, "Delete") : null);
  }

  function query() {
    const params = new URLSearchParams();
    for (const name of ["attribute", "style", "source"]) {
      const value = filters.elements[name].value;
      if (value) params.set(name, value);
    }
    return params.toString();
  }

  async function load(append = false) {
    const url = append ? next : `/api/exemplars/?${query()}`;
    if (!append) history.replaceState(null, "", `?${query()}`);
    try {
      const page = await api(url);
      next = page.next;
      const cards = page.results.map(card);
      if (append) grid.append(...cards); else grid.replaceChildren(...cards);
      more.hidden = !next;
      document.getElementById("gallery-empty").hidden = page.count > 0;
      document.getElementById("gallery-count").textContent = `${page.count} exemplar${page.count === 1 ? "" : "s"}`;
    } catch (error) {
      say(message, `Could not load the gallery: ${error.message}`, "error");
    }
  }

  filters.addEventListener("change", () => load());
  more.addEventListener("click", () => load(true));

  const form = document.getElementById("exemplar-form");
  const formMessage = document.getElementById("exemplar-message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say(formMessage, "Uploading and aligning the face…");
    try {
      const item = await api("/api/exemplars/", { method: "POST", form: new FormData(form) });
      say(formMessage, `Added: ${label(item.attribute)}${item.style ? ` (${label(item.style)})` : ""}.`, "ok");
      form.reset();
      filters.elements.attribute.value = [...filters.elements.attribute.options].some((o) => o.value === item.attribute)
        ? item.attribute : "";
      load();
    } catch (error) {
      say(formMessage, `Not added: ${error.message.replace(/^image: /, "")}`, "error");
    } finally {
      button.disabled = false;
    }
  });

  const params = new URLSearchParams(location.search);
  for (const name of ["attribute", "style", "source"]) {
    const value = params.get(name);
    if (value && [...filters.elements[name].options].some((o) => o.value === value)) filters.elements[name].value = value;
  }
  load();
})();

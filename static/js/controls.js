// Widgets from a method's controls schema (ml/controls.py): slider, exemplar, choice, toggle.
// Nothing here knows any method: every control comes from the schema the model version carries.
(function () {
  "use strict";
  const { el, label } = window.FaceLab;

  function typeNames(spec) {
    const kind = spec.type || "number";
    return Array.isArray(kind) ? kind : [kind];
  }

  // The widget a control is drawn with: the schema's own, else one that fits its type.
  function widgetOf(spec) {
    if (spec.widget) return spec.widget;
    if (spec.enum) return "choice";
    const kinds = typeNames(spec);
    if (kinds.includes("boolean")) return "toggle";
    if (kinds.includes("number") || kinds.includes("integer")) return "slider";
    return "text";
  }

  function defaults(schema) {
    const values = {};
    for (const [name, spec] of Object.entries(schema.properties || {})) {
      values[name] = spec.default === undefined ? null : spec.default;
    }
    return values;
  }

  function decimals(step) {
    const text = String(step || 0.01);
    return text.includes(".") ? Math.min(4, text.split(".")[1].length) : 0;
  }

  function format(spec, value) {
    if (value === null || value === undefined) return "none";
    const widget = widgetOf(spec);
    if (widget === "slider" && typeof value === "number") return value.toFixed(decimals(spec.step));
    if (widget === "toggle") return value ? "on" : "off";
    if (widget === "choice") return label(value);
    if (widget === "exemplar") {
      const preset = (spec.presets || []).find((item) => item.value === value);
      return preset ? preset.label : `#${String(value).slice(0, 8)}`;
    }
    return String(value);
  }

  function titleOf(name, spec) {
    return spec.title || label(name);
  }

  // Consecutive controls that belong together by name ("hair_color", "hair_color_reference";
  // "Bangs_exemplar", "Bangs_strength") share a fieldset. Only names are used, never a method.
  function groupKey(name, names) {
    const parents = names.filter((other) => other !== name && name.startsWith(`${other}_`));
    if (parents.length) return parents.sort((a, b) => b.length - a.length)[0];
    if (names.some((other) => other !== name && other.startsWith(`${name}_`))) return name;
    const cut = name.lastIndexOf("_");
    if (cut > 0) {
      const stem = name.slice(0, cut);
      if (names.some((other) => other !== name && other.startsWith(`${stem}_`) && !other.slice(cut + 1).includes("_"))) return stem;
    }
    return name;
  }

  function groups(properties) {
    const names = Object.keys(properties);
    const result = [];
    for (const name of names) {
      const key = groupKey(name, names);
      const last = result[result.length - 1];
      if (last && last.key === key) last.names.push(name);
      else result.push({ key, names: [name] });
    }
    return result;
  }

  function shortTitle(title, groupTitle) {
    for (const separator of [": ", " "]) {
      if (title.startsWith(groupTitle + separator) && title.length > groupTitle.length + separator.length) {
        const rest = title.slice(groupTitle.length + separator.length);
        return rest.charAt(0).toUpperCase() + rest.slice(1);
      }
    }
    return title;
  }

  // How often each control's edits worked in the model's evaluation, from the version's metrics:
  // `control_success/CONTROL/ATTRIBUTE` and `eval_faces` (ml/evaluation/cli.py) ->
  // {CONTROL: [{attribute, success, faces}]}; the count says how far to trust the share.
  const BENCHMARK_PREFIX = "control_success/";
  const BENCHMARK_LOW = 0.5; // below this share of test edits a control is flagged as unreliable

  function benchmarksOf(metrics) {
    const result = {};
    const faces = Number.isInteger(metrics?.eval_faces) ? metrics.eval_faces : null;
    for (const [key, success] of Object.entries(metrics || {})) {
      if (!key.startsWith(BENCHMARK_PREFIX) || typeof success !== "number") continue;
      const [name, attribute] = key.slice(BENCHMARK_PREFIX.length).split("/");
      if (!name || !attribute) continue;
      (result[name] = result[name] || []).push({ attribute, success, faces });
    }
    return result;
  }

  function benchmarkNote(name, entries) {
    if (!entries || !entries.length) return null;
    const low = entries.some((entry) => entry.success < BENCHMARK_LOW);
    const text = entries.map((entry) => `${label(entry.attribute)} on ${Math.round(entry.success * 100)}%`).join(", ");
    const faces = entries[0].faces;
    return el("span", {
      class: low ? "benchmark benchmark-low" : "benchmark",
      title: "Share of edits of held-out synthetic faces that the evaluation oracle read as done (python -m ml eval)",
      dataset: { testid: `benchmark-${name}`, low: String(low) },
    }, `${low ? "Unreliable in this model: " : ""}edits ${text} of ${faces ? `${faces} ` : ""}test faces`);
  }

  // Builds the form; returns {set(values)} to show other values (undo, redo, reset) without events.
  // `benchmarks` (from benchmarksOf) puts each control's evaluated success beside it.
  function build(form, schema, values, handlers, benchmarks = {}) {
    const properties = schema.properties || {};
    const rowsByName = {};
    const setters = {};
    let index = 0;
    const grouped = groups(properties);
    const groupTitles = {};
    for (const group of grouped) {
      const title = properties[group.key] ? titleOf(group.key, properties[group.key]) : label(group.key);
      for (const name of group.names) groupTitles[name] = group.names.length > 1 ? title : null;
    }
    for (const [name, spec] of Object.entries(properties)) {
      const shown = groupTitles[name] ? shortTitle(titleOf(name, spec), groupTitles[name]) : titleOf(name, spec);
      const id = `control-${index++}`;
      const widget = widgetOf(spec);
      const help = spec.description ? el("span", { class: "help", id: `${id}-help` }, spec.description) : null;
      const described = help ? `${id}-help` : null;
      let row;
      if (widget === "slider") {
        const integer = typeNames(spec).includes("integer");
        const min = spec.minimum ?? 0;
        const max = spec.maximum ?? 1;
        const step = spec.step ?? (integer ? 1 : (max - min) / 100);
        const output = el("output", { for: id, class: "control-value" });
        const input = el("input", { type: "range", id, name, min, max, step, "aria-describedby": described,
          "aria-label": titleOf(name, spec),
          dataset: { testid: `control-${name}`, widget } });
        const read = () => (integer ? parseInt(input.value, 10) : Number(input.value));
        setters[name] = (value) => {
          input.value = value ?? spec.default ?? min;
          output.textContent = format(spec, read());
        };
        input.addEventListener("input", () => { output.textContent = format(spec, read()); handlers.onInput(name, read()); });
        input.addEventListener("change", () => handlers.onCommit(name, read()));
        input.addEventListener("dblclick", () => {
          if (spec.default === undefined) return;
          setters[name](spec.default);
          handlers.onCommit(name, read());
        });
        row = el("div", { class: "control control-slider" },
          el("div", { class: "control-label" }, el("label", { for: id }, shown), output),
          input, help);
      } else if (widget === "choice") {
        const select = el("select", { id, name, "aria-describedby": described, "aria-label": titleOf(name, spec), dataset: { testid: `control-${name}`, widget } },
          (spec.enum || []).map((option) => el("option", { value: JSON.stringify(option) }, label(option))));
        setters[name] = (value) => { select.value = JSON.stringify(value ?? spec.default); };
        select.addEventListener("change", () => handlers.onCommit(name, JSON.parse(select.value)));
        row = el("div", { class: "control control-choice" }, el("label", { for: id }, shown), select, help);
      } else if (widget === "toggle") {
        const box = el("input", { type: "checkbox", id, name, role: "switch", "aria-describedby": described,
          dataset: { testid: `control-${name}`, widget } });
        setters[name] = (value) => { box.checked = Boolean(value); };
        box.addEventListener("change", () => handlers.onCommit(name, box.checked));
        row = el("div", { class: "control control-toggle" }, el("label", { for: id }, box, " ", shown), help);
      } else if (widget === "exemplar") {
        const thumb = el("img", { class: "exemplar-thumb", alt: "" });
        const text = el("span", { class: "exemplar-text" });
        const button = el("button", { type: "button", id, class: "exemplar-button", "aria-describedby": described,
          dataset: { testid: `control-${name}`, widget } }, thumb, text);
        const clear = el("button", { type: "button", class: "secondary small", "aria-label": `No ${titleOf(name, spec)}`,
          title: "none" }, "✕");
        let current = null;
        setters[name] = (value) => {
          current = value ?? null;
          // a preset (the model's average face, say) names no gallery image
          const preset = (spec.presets || []).find((item) => item.value === current);
          button.dataset.value = current || "";
          thumb.hidden = !current || Boolean(preset);
          if (current && !preset) thumb.src = `/api/exemplars/${encodeURIComponent(current)}/image/`;
          text.textContent = preset ? `${preset.label} (change…)`
            : current ? "change…" : `none: pick ${spec.attribute ? label(spec.attribute) : "an exemplar"}…`;
          clear.hidden = !current;
        };
        button.addEventListener("click", async () => {
          const picked = await handlers.pickExemplar(name, spec, current);
          if (picked === undefined || picked === current) return;
          setters[name](picked);
          handlers.onCommit(name, picked);
        });
        clear.addEventListener("click", () => { setters[name](null); handlers.onCommit(name, null); });
        row = el("div", { class: "control control-exemplar" },
          el("label", { for: id }, shown), el("div", { class: "exemplar-row" }, button, clear), help);
      } else {
        const input = el("input", { type: "text", id, name, maxlength: spec.maxLength || 200,
          dataset: { testid: `control-${name}`, widget } });
        setters[name] = (value) => { input.value = value ?? ""; };
        input.addEventListener("change", () => handlers.onCommit(name, input.value || null));
        row = el("div", { class: "control" }, el("label", { for: id }, shown), input, help);
      }
      setters[name](values[name]);
      const note = benchmarkNote(name, benchmarks[name]);
      if (note) row.append(note);
      rowsByName[name] = row;
    }
    form.replaceChildren(...grouped.map((group) => (group.names.length === 1 ? rowsByName[group.names[0]]
      : el("fieldset", { class: "control-group", dataset: { group: group.key } },
        el("legend", {}, groupTitles[group.names[0]]), group.names.map((name) => rowsByName[name])))));
    if (!grouped.length) form.append(el("p", { class: "muted" }, "This method has no controls."));
    return {
      set(next) {
        for (const [name, setter] of Object.entries(setters)) setter(next[name]);
      },
    };
  }

  window.FaceLab = Object.assign(window.FaceLab || {}, {
    controls: { benchmarksOf, build, defaults, format, widgetOf, titleOf },
  });
})();

// Recipes: mine and public ones, each a link to its page.
(function () {
  "use strict";
  const { apiAll, el, say, label, when } = window.FaceLab;
  const VISIBILITY = { private: "only me", link: "anyone with the link", public: "everyone" };

  function item(recipe) {
    const methods = [...new Set((recipe.steps || []).map((step) => label(step.method)))].join(" → ");
    const count = (recipe.steps || []).length;
    return el("li", { class: "recipe-item", dataset: { testid: "recipe-item", recipe: recipe.id } },
      el("a", { class: "recipe-link", href: `/recipes/${encodeURIComponent(recipe.id)}/` }, recipe.title),
      el("span", { class: "muted small" }, `${count} step${count === 1 ? "" : "s"}: ${methods}`),
      el("span", { class: "muted small" }, `by ${recipe.owner} · ${when(recipe.created)}`),
      recipe.forked_from ? el("span", { class: "badge" }, "fork") : null,
      el("span", { class: `badge badge-${recipe.visibility}` }, VISIBILITY[recipe.visibility] || recipe.visibility));
  }

  async function fill(scope, listId, emptyId) {
    try {
      const recipes = await apiAll(`/api/recipes/?scope=${scope}`);
      document.getElementById(listId).replaceChildren(...recipes.map(item));
      document.getElementById(emptyId).hidden = recipes.length > 0;
    } catch (error) {
      say(document.getElementById("recipes-message"), `Could not load recipes: ${error.message}`, "error");
    }
  }
  fill("mine", "my-recipes", "my-empty");
  fill("public", "public-recipes", "public-empty");
})();

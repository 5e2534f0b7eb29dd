// The segment rules builder: rows of field / op / value and "match all/any", kept in the
// form's `rules` field as JSON, with a live member count and sample from the preview view.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("ft-builder-config").textContent);
  const textarea = document.getElementById("id_rules");
  const rowsBox = document.getElementById("ft-rows");
  const match = document.getElementById("ft-match");
  const LIST_OPS = ["in", "not_in", "has_any", "has_all", "has_none"];
  const NO_VALUE = ["is_empty", "is_not_empty", "exists", "not_exists"];
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    (children || []).forEach((c) => node.append(c));
    return node;
  }

  function options(select, values, chosen) {
    select.replaceChildren(...values.map((v) => {
      const o = el("option", { value: v }, [v]);
      if (v === chosen) o.selected = true;
      return o;
    }));
  }

  function addRow(condition) {
    condition = condition || { field: "city", op: "eq", value: "" };
    let field = condition.field || "city";
    let key = "";
    if (field.startsWith("attributes.")) { key = field.slice(11); field = "attributes."; }
    const row = el("div", { class: "ft-row" });
    const fieldSel = el("select", { class: "ft-field", "aria-label": "field" });
    options(fieldSel, Object.keys(config.fields), field);
    const keyIn = el("input", { class: "ft-key", placeholder: "attribute key", "aria-label": "attribute key" });
    keyIn.value = key;
    const opSel = el("select", { class: "ft-op", "aria-label": "op" });
    const valueIn = el("input", { class: "ft-value", "aria-label": "value" });
    const campSel = el("select", { class: "ft-campaign", "aria-label": "campaign" });
    options(campSel, [""], "");
    config.campaigns.forEach((c) => campSel.append(el("option", { value: String(c.id) }, [c.label])));
    const daysIn = el("input", { class: "ft-days", type: "number", min: "1", placeholder: "within days", "aria-label": "within days" });
    const remove = el("button", { type: "button", class: "button ft-remove", title: "Remove" }, ["×"]);
    row.append(fieldSel, keyIn, opSel, valueIn, campSel, daysIn, remove);

    const v = condition.value;
    if (Array.isArray(v)) valueIn.value = v.join(", ");
    else if (v !== null && v !== undefined && typeof v !== "object") valueIn.value = String(v);
    if (v && typeof v === "object" && !Array.isArray(v)) {
      if (v.campaign !== undefined) campSel.value = String(v.campaign);
      if (v.within_days !== undefined) daysIn.value = String(v.within_days);
    }

    function shape() {
      options(opSel, config.fields[fieldSel.value], opSel.value || condition.op);
      const f = fieldSel.value;
      keyIn.hidden = f !== "attributes.";
      const engagement = f === "engagement";
      campSel.hidden = !engagement;
      daysIn.hidden = !engagement;
      valueIn.hidden = engagement || NO_VALUE.includes(opSel.value);
      valueIn.type = (f === "created_at" && opSel.value === "within_days") || f === "engagement_score" ? "number" : "text";
      valueIn.placeholder = LIST_OPS.includes(opSel.value) ? "comma-separated values" :
        f === "created_at" && opSel.value !== "within_days" ? "YYYY-MM-DD" : "value";
    }
    fieldSel.addEventListener("change", () => { opSel.value = ""; shape(); changed(); });
    opSel.addEventListener("change", () => { shape(); changed(); });
    [keyIn, valueIn, daysIn].forEach((i) => i.addEventListener("input", changed));
    campSel.addEventListener("change", changed);
    remove.addEventListener("click", () => { row.remove(); changed(); });
    rowsBox.append(row);
    shape();
  }

  function conditionOf(row) {
    const q = (s) => row.querySelector(s);
    let field = q(".ft-field").value;
    const op = q(".ft-op").value;
    if (field === "attributes.") field += q(".ft-key").value.trim();
    const raw = q(".ft-value").value;
    let value = raw;
    if (field === "engagement") {
      value = {};
      if (q(".ft-campaign").value) value.campaign = Number(q(".ft-campaign").value);
      if (q(".ft-days").value) value.within_days = Number(q(".ft-days").value);
    } else if (NO_VALUE.includes(op)) {
      value = null;
    } else if (LIST_OPS.includes(op)) {
      value = raw.split(",").map((s) => s.trim()).filter(Boolean);
    } else if ((field === "created_at" && op === "within_days") || field === "engagement_score") {
      value = raw === "" ? null : Number(raw);
    }
    return { field, op, value };
  }

  function rules() {
    return { match: match.value, conditions: [...rowsBox.children].map(conditionOf) };
  }

  let timer = null;
  let asked = 0;
  function changed() {
    textarea.value = JSON.stringify(rules());
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }

  async function preview() {
    const mine = ++asked;
    const count = document.getElementById("ft-segment-count");
    const errors = document.getElementById("ft-errors");
    const sample = document.getElementById("ft-sample");
    let body;
    let current;
    try {
      current = JSON.parse(textarea.value);
    } catch (e) {
      count.textContent = "–";
      errors.textContent = "The rules are not valid JSON.";
      return;
    }
    try {
      const answer = await fetch(config.preview_url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ rules: current }),
        credentials: "same-origin",
      });
      body = await answer.json();
    } catch (e) {
      body = { errors: ["The preview could not be loaded."] };
    }
    if (mine !== asked) return; // a newer preview is on its way
    if (body.errors) {
      count.textContent = "–";
      errors.textContent = body.errors.join(" ");
      sample.replaceChildren();
      return;
    }
    errors.textContent = "";
    count.textContent = body.lead_count.toLocaleString();
    document.getElementById("ft-suppressed").textContent =
      body.suppressed_count ? `(${body.suppressed_count.toLocaleString()} more match but are suppressed)` : "";
    sample.replaceChildren(...body.sample.map((lead) =>
      el("li", {}, [`${lead.email}${lead.name ? " — " + lead.name : ""}${lead.city ? ", " + lead.city : ""}`])));
  }

  let initial = { match: "all", conditions: [] };
  try { initial = JSON.parse(textarea.value) || initial; } catch (e) { /* shown as typed */ }
  match.value = initial.match === "any" ? "any" : "all";
  (initial.conditions || []).forEach(addRow);
  match.addEventListener("change", changed);
  document.getElementById("ft-add-row").addEventListener("click", () => { addRow(); changed(); });
  textarea.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 300); });
  preview();
})();

// The template editor (campaigns/admin/template_editor.py): a live preview of the unsaved
// subject and bodies, re-rendered a moment after each edit; the preview lead chosen by email
// with suggestions; merge tags inserted at the cursor by a click.
(function () {
  "use strict";
  var DELAY = 350;

  function start() {
    var box = document.getElementById("ft-live-preview");
    if (!box) { return; }
    var form = box.closest("form");
    var fields = ["subject", "body_html", "body_text"].map(function (n) { return document.getElementById("id_" + n); });
    var leadInput = document.getElementById("ft-preview-lead");
    var options = document.getElementById("ft-lead-options");
    var errorBox = document.getElementById("ft-preview-error");
    var timer = null, lastFocused = fields[1], sent = 0;

    function csrf() {
      var input = form.querySelector("input[name=csrfmiddlewaretoken]");
      return input ? input.value : "";
    }

    function render() {
      var body = new URLSearchParams();
      fields.forEach(function (f) { if (f) { body.append(f.name, f.value); } });
      body.append("lead_email", leadInput.value);
      var mine = ++sent;
      fetch(box.getAttribute("data-url"), {
        method: "POST", credentials: "same-origin", body: body,
        headers: { "X-CSRFToken": csrf(), Accept: "application/json" }
      }).then(function (r) { return r.json(); }).then(function (data) {
        if (mine !== sent) { return; }  // an older answer arriving late
        if (data.errors) {
          errorBox.hidden = false;
          errorBox.textContent = Object.keys(data.errors).map(function (k) { return k + ": " + data.errors[k].join(" "); }).join(" · ");
          return;
        }
        errorBox.hidden = true;
        document.getElementById("ft-preview-subject").textContent = "Subject: " + data.subject;
        document.getElementById("ft-preview-html").srcdoc = data.html;
        document.getElementById("ft-preview-text").textContent = data.text;
        document.getElementById("ft-preview-for").textContent = data.lead ? "— " + data.lead : "— sample data";
      }).catch(function () {});
    }

    function later() { window.clearTimeout(timer); timer = window.setTimeout(render, DELAY); }

    function suggest() {
      var q = leadInput.value.trim();
      if (q.length < 2) { return; }
      fetch(box.getAttribute("data-search-url") + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          options.replaceChildren.apply(options, (data.results || []).map(function (email) {
            var o = document.createElement("option"); o.value = email; return o;
          }));
        }).catch(function () {});
    }

    fields.forEach(function (f) {
      if (!f) { return; }
      f.addEventListener("input", later);
      f.addEventListener("focus", function () { lastFocused = f; });
    });
    leadInput.addEventListener("input", function () { suggest(); later(); });

    var tags = document.querySelectorAll(".ft-tag[data-tag]");
    for (var i = 0; i < tags.length; i++) {
      tags[i].addEventListener("click", function (event) {
        var f = lastFocused || fields[1], tag = event.currentTarget.getAttribute("data-tag");
        if (!f) { return; }
        var at = f.selectionStart == null ? f.value.length : f.selectionStart;
        f.value = f.value.slice(0, at) + tag + f.value.slice(f.selectionEnd == null ? at : f.selectionEnd);
        f.focus();
        f.selectionStart = f.selectionEnd = at + tag.length;
        later();
      });
    }
    render();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();

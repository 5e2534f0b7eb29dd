// Draws the campaign dashboard's and the comparison page's charts with Chart.js (our static
// copy, vendor/chart.umd.min.js). The data comes from <script type="application/json">
// blocks (Django's json_script): #ft-analytics (the API's analytics shape) on the dashboard,
// #ft-compare on the comparison page. A section without data shows a line of text instead.
(function () {
  "use strict";
  var COLORS = ["#417690", "#e08e0b", "#5b9b4c", "#b5485d", "#7b61a8", "#2a9d8f", "#8d6e63", "#c0ca33", "#607d8b", "#f06292"];

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function empty(canvas, text) {
    var p = document.createElement("p");
    p.className = "ft-empty";
    p.textContent = text || "No data yet.";
    var box = canvas.parentNode.classList.contains("ft-chart-box") ? canvas.parentNode : canvas;
    box.replaceWith(p);
  }

  function draw(canvas, config) {
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
    canvas.ftChart = new window.Chart(canvas, config);
  }

  function counts(canvas, rows, labelKey, type, label) {
    rows = rows || [];
    if (!rows.length) { return empty(canvas); }
    draw(canvas, {
      type: type,
      data: {
        labels: rows.map(function (r) { return r[labelKey]; }),
        datasets: [{ label: label, data: rows.map(function (r) { return r.count; }), backgroundColor: COLORS }]
      },
      options: type === "doughnut" ? {} : { plugins: { legend: { display: false } }, indexAxis: type === "bar" ? "y" : "x" }
    });
  }

  function hourly(canvas, a) {
    var series = { sends: a.hourly_sends || [], opens: a.hourly_opens || [], clicks: a.hourly_clicks || [] };
    var hours = {};
    Object.keys(series).forEach(function (k) { series[k].forEach(function (r) { hours[r.hour] = true; }); });
    var labels = Object.keys(hours).sort();
    if (!labels.length) { return empty(canvas, "Nothing sent yet."); }
    draw(canvas, {
      type: "line",
      data: {
        labels: labels.map(function (h) { return h.slice(0, 16).replace("T", " "); }),
        datasets: Object.keys(series).map(function (k, i) {
          var byHour = {};
          series[k].forEach(function (r) { byHour[r.hour] = r.count; });
          return { label: k, data: labels.map(function (h) { return byHour[h] || 0; }), borderColor: COLORS[i], backgroundColor: COLORS[i] };
        })
      }
    });
  }

  function countries(canvas, a) {
    var opens = a.opens_by_location || [], clicks = a.clicks_by_location || [];
    var names = [];
    opens.concat(clicks).forEach(function (r) { if (names.indexOf(r.country) < 0) { names.push(r.country); } });
    if (!names.length) { return empty(canvas); }
    function column(rows) {
      var by = {};
      rows.forEach(function (r) { by[r.country] = r.count; });
      return names.map(function (n) { return by[n] || 0; });
    }
    draw(canvas, {
      type: "bar",
      data: { labels: names, datasets: [
        { label: "opens", data: column(opens), backgroundColor: COLORS[0] },
        { label: "clicks", data: column(clicks), backgroundColor: COLORS[1] }
      ] }
    });
  }

  function domains(canvas, a) {
    var rows = a.domains || [];
    if (!rows.length) { return empty(canvas); }
    draw(canvas, {
      type: "bar",
      data: { labels: rows.map(function (r) { return r.domain; }), datasets: ["sent", "opened", "clicked", "bounced"].map(function (k, i) {
        return { label: k, data: rows.map(function (r) { return r[k]; }), backgroundColor: COLORS[i] };
      }) }
    });
  }

  function links(canvas, a) {
    var rows = (a.top_links || []).map(function (r) { return { url: r.url.length > 60 ? r.url.slice(0, 57) + "…" : r.url, count: r.clicks }; });
    counts(canvas, rows, "url", "bar", "clicks");
  }

  function engagement(canvas, a) {
    var e = a.engagement || {};
    var values = [e.median_seconds_to_open, e.median_seconds_to_click];
    if (values[0] == null && values[1] == null) { return empty(canvas, "No opens or clicks yet."); }
    draw(canvas, {
      type: "bar",
      data: { labels: ["to open", "to click"], datasets: [{
        label: "median minutes", backgroundColor: [COLORS[0], COLORS[1]],
        data: values.map(function (v) { return v == null ? 0 : Math.round(v / 6) / 10; })
      }] },
      options: { plugins: { legend: { display: false } } }
    });
  }

  var SECTIONS = {
    hourly: hourly,
    devices: function (c, a) { counts(c, a.opens_by_device, "label", "doughnut", "opens"); },
    clients: function (c, a) { counts(c, a.opens_by_email_client, "label", "bar", "opens"); },
    countries: countries,
    domains: domains,
    links: links,
    bounces: function (c, a) { counts(c, a.bounce_reasons, "reason", "bar", "bounces"); },
    engagement: engagement
  };

  function dashboard() {
    var a = data("ft-analytics");
    if (!a) { return; }
    var canvases = document.querySelectorAll("canvas[data-section]");
    for (var i = 0; i < canvases.length; i++) {
      var section = SECTIONS[canvases[i].getAttribute("data-section")];
      if (section) { section(canvases[i], a); }
    }
  }

  function compare() {
    var c = data("ft-compare"), canvas = document.getElementById("ft-compare-chart");
    if (!c || !canvas) { return; }
    if (!c.labels.length) { return empty(canvas, "Choose campaigns on the campaign list, then “Compare selected campaigns”."); }
    draw(canvas, {
      type: "bar",
      data: { labels: c.rates.map(function (r) { return r.replace(/_/g, " "); }), datasets: c.labels.map(function (name, i) {
        return { label: name, data: c.rates.map(function (r) { return c.values[r][i]; }), backgroundColor: COLORS[i % COLORS.length] };
      }) },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "%" } } } }
    });
  }

  function start() {
    if (!window.Chart) { return; }
    dashboard();
    compare();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();

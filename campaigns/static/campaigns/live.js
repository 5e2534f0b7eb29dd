// The campaign page's live numbers: while the campaign is scheduled, running or paused, poll
// its live.json (campaigns/admin/dashboard.py) every few seconds and update every element
// marked data-live="<key>", the progress bar and the status badge. When the status changes
// the page reloads once, so its buttons match the new status — unless the marketer has just
// submitted a form (launch, pause, resume, save): that navigation shows the new status and
// its message, and a reload racing it would lose the message.
(function () {
  "use strict";
  var POLLED = { scheduled: true, running: true, paused: true };

  function start() {
    var box = document.getElementById("ft-live");
    if (!box) { return; }
    var status = box.getAttribute("data-status");
    if (!POLLED[status]) { return; }
    var interval = parseInt(box.getAttribute("data-interval") || "3000", 10);
    var leaving = false;
    document.addEventListener("submit", function () { leaving = true; }, true);

    function show(data) {
      var cells = document.querySelectorAll("[data-live]");
      for (var i = 0; i < cells.length; i++) {
        var key = cells[i].getAttribute("data-live");
        if (Object.prototype.hasOwnProperty.call(data, key)) {
          cells[i].textContent = data[key] + (cells[i].getAttribute("data-suffix") || "");
        }
      }
      var bar = document.getElementById("ft-progress-bar");
      if (bar) { bar.value = data.progress_percentage; bar.textContent = data.progress_percentage + "%"; }
      if (leaving) { return false; }
      if (data.status !== status) { window.location.reload(); return false; }
      return true;
    }

    function poll() {
      fetch(box.getAttribute("data-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (leaving || (data && show(data) === false)) { return; }
          window.setTimeout(poll, interval);
        })
        .catch(function () { window.setTimeout(poll, interval * 2); });
    }
    window.setTimeout(poll, interval);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();

// Tells the server the browser's time zone (fliptech.timezones reads the cookie), so the
// admin shows and reads dates in the marketer's own time. A change takes effect on the next
// page, so the first page after the cookie changes reloads once.
(function () {
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) { return; }
  var current = (document.cookie.match(/(?:^|; )ft_tz=([^;]*)/) || [])[1];
  if (current && decodeURIComponent(current) === zone) { return; }
  document.cookie = "ft_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
})();

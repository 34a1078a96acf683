// The page works without this script; it adds three conveniences.
(function () {
  "use strict";
  // The one-time link of `mcp-memory ui` carries its code after '#': post it, then forget it.
  var form = document.getElementById("signin");
  var hash = window.location.hash;
  if (form && hash.indexOf("#code=") === 0) {
    document.getElementById("token").value = decodeURIComponent(hash.slice(6));
    history.replaceState(null, "", window.location.pathname);
    form.submit();
  }
  // A form with data-confirm asks before it changes anything.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // '/' moves to the search box, as on many sites.
  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("q");
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && box && !typing && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });
})();

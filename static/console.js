// The console's only script (served from the binary; the pages work without it).
// It counts the answer's characters against the channel's limit as the admin types;
// the server's preview shows the exact text the citizen receives.
(function () {
  "use strict";
  var box = document.getElementById("answer-body");
  var out = document.getElementById("answer-count");
  if (!box || !out) { return; }
  var limit = parseInt(box.getAttribute("data-limit") || "0", 10);
  var id = document.documentElement.lang !== "en";
  function update() {
    var n = Array.from(box.value.trim()).length;
    if (limit > 0) {
      out.textContent = n + " / " + limit + (id ? " karakter" : " characters");
      out.classList.toggle("over", n > limit);
    } else {
      out.textContent = n + (id ? " karakter" : " characters");
    }
  }
  box.addEventListener("input", update);
  update();
}());

// Starts the terminal player on a recording page (console/recordings.go):
// the vendored asciinema-player plays the recording the page names, from
// the console's own origin.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("player");
  if (!el || !window.AsciinemaPlayer) {
    return;
  }
  window.AsciinemaPlayer.create(el.dataset.src, el, {
    autoPlay: true,
    preload: true,
    idleTimeLimit: 1,
    fit: "width",
  });
});

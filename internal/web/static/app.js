// Copy buttons: <button class="copy" data-copy="ELEMENT-ID">.
document.addEventListener("click", function (e) {
  var b = e.target.closest ? e.target.closest("button.copy") : null;
  if (!b) return;
  var el = document.getElementById(b.getAttribute("data-copy"));
  if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent);
});
// POP3 options are greyed out while POP3 is off.
document.addEventListener("DOMContentLoaded", function () {
  var pop3 = document.getElementById("pop3");
  var opts = document.querySelector(".pop3opts");
  if (!pop3 || !opts) return;
  function sync() { opts.style.opacity = pop3.checked ? "1" : "0.5"; }
  pop3.addEventListener("change", sync);
  sync();
});

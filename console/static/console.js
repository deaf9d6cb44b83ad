// Hoist console: the few things a page cannot do alone. Every page works
// without this file; with it, the approval queue updates itself, countdowns
// tick, "select all" works and destructive buttons ask first.
"use strict";

(function () {
  // Forms that end something ask before they are sent.
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
    }
  });

  // A form sent back with errors: put the keyboard on the list of them.
  var errors = document.getElementById("form-errors");
  if (errors) {
    errors.focus();
  }

  // Times: the pages write them in UTC; the account page's preference
  // (kept in this browser) shows them in the browser's time zone instead.
  // The UTC time stays in the tooltip.
  var zoneKey = "hoist.timezone";
  function localZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "local"; } catch (e) { return "local"; }
  }
  function showTimes(root) {
    if (localStorage.getItem(zoneKey) !== "local") return;
    (root || document).querySelectorAll("time[datetime]:not([data-since])").forEach(function (el) {
      if (!/ UTC$/.test(el.textContent)) return;
      var t = new Date(el.getAttribute("datetime"));
      if (isNaN(t)) return;
      if (!el.title) el.title = el.textContent;
      var p = function (n) { return (n < 10 ? "0" : "") + n; };
      el.textContent = t.getFullYear() + "-" + p(t.getMonth() + 1) + "-" + p(t.getDate()) + " " +
        p(t.getHours()) + ":" + p(t.getMinutes()) + ":" + p(t.getSeconds()) + " " + localZone();
    });
  }
  showTimes();
  var zone = document.getElementById("timezone");
  if (zone) {
    zone.value = localStorage.getItem(zoneKey) === "local" ? "local" : "utc";
    var localOption = zone.querySelector('option[value="local"]');
    if (localOption) localOption.textContent = "This browser's time zone (" + localZone() + ")";
    zone.addEventListener("change", function () {
      localStorage.setItem(zoneKey, zone.value);
      var said = document.getElementById("timezone-saved");
      if (said) said.textContent = "Saved for this browser.";
    });
  }

  // Tables with class "sortable": a header's button sorts the rows by that
  // column (times by their instant, numbers as numbers), again to reverse.
  function sortKey(cell) {
    var t = cell && cell.querySelector("time[datetime]");
    if (t) return Date.parse(t.getAttribute("datetime"));
    var text = cell ? cell.textContent.trim() : "";
    return /^-?\d+(\.\d+)?$/.test(text) ? parseFloat(text) : text.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      if (!th.textContent.trim()) return;
      var b = document.createElement("button");
      b.type = "button";
      b.className = "sort";
      b.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(b);
      b.addEventListener("click", function () {
        var up = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > 1; });
        rows.sort(function (x, y) {
          var a = sortKey(x.cells[col]), c = sortKey(y.cells[col]);
          return (a < c ? -1 : a > c ? 1 : 0) * (up ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  if (document.body.dataset.page !== "approvals") {
    return;
  }

  var selectAll = document.getElementById("select-all");
  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('#pending-rows input[name="id"]'));
  }
  function syncSelectAll() {
    if (!selectAll) return;
    var all = boxes();
    var checked = all.filter(function (b) { return b.checked; }).length;
    selectAll.checked = all.length > 0 && checked === all.length;
    selectAll.indeterminate = checked > 0 && checked < all.length;
  }
  if (selectAll) {
    selectAll.hidden = false;
    selectAll.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = selectAll.checked; });
    });
    document.getElementById("pending-rows").addEventListener("change", syncSelectAll);
  }

  // Time left in the active sessions, every second; how long requests have
  // waited, in the words the server uses.
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function ago(ms) {
    var min = Math.floor(ms / 60000);
    if (min < 1) return "just now";
    if (min < 60) return min + " min ago";
    var h = Math.floor(min / 60);
    return h < 48 ? h + " h ago" : Math.floor(h / 24) + " days ago";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-ends]").forEach(function (cell) {
      var left = Math.max(0, Math.round((Date.parse(cell.dataset.ends) - now) / 1000));
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      cell.textContent = left === 0 ? "ending" : (h > 0 ? h + ":" + pad(m) : m) + ":" + pad(s);
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = ago(now - Date.parse(el.dataset.since));
    });
  }
  tick();
  setInterval(tick, 1000);

  // New requests and sessions appear without a reload. A table is swapped
  // only when its rows changed (by id), so that the countdowns do not cause
  // a swap every time; the ticks the approver made and the keyboard focus
  // are kept across a swap, and a request decided meanwhile drops out.
  function keys(tbody) {
    return Array.prototype.map.call(tbody.querySelectorAll("tr[data-key]"), function (tr) {
      return tr.dataset.key;
    }).join("|");
  }
  function focusPath(tbody) {
    var el = document.activeElement;
    if (!el || !tbody.contains(el)) return null;
    var row = el.closest("tr[data-id]");
    return row ? { id: row.dataset.id, tag: el.tagName } : null;
  }
  var busy = false;
  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch("/approvals/live", { credentials: "same-origin", cache: "no-store" }).then(function (res) {
      if (res.status === 401) {
        window.location.assign("/login?expired=1&next=/approvals");
        return null;
      }
      return res.ok ? res.text() : null;
    }).then(function (html) {
      if (html === null) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var selected = {};
      boxes().forEach(function (b) { if (b.checked) selected[b.value] = true; });
      ["pending-rows", "session-rows"].forEach(function (id) {
        var fresh = doc.getElementById(id), old = document.getElementById(id);
        if (!fresh || !old || keys(fresh) === keys(old) && fresh.querySelectorAll("tr").length === old.querySelectorAll("tr").length) return;
        var focus = focusPath(old);
        old.innerHTML = fresh.innerHTML;
        if (focus) {
          var again = old.querySelector('tr[data-id="' + focus.id + '"] ' + focus.tag.toLowerCase());
          if (again) again.focus();
        }
      });
      boxes().forEach(function (b) { if (selected[b.value]) b.checked = true; });
      var waiting = document.querySelectorAll("#pending-rows tr[data-id]").length;
      document.getElementById("pending-count").textContent = waiting;
      // The tab says how many wait, for an approver working in another tab.
      document.title = (waiting > 0 ? "(" + waiting + ") " : "") + document.title.replace(/^\(\d+\) /, "");
      document.getElementById("session-count").textContent = document.querySelectorAll("#session-rows tr[data-id]").length;
      syncSelectAll();
      showTimes();
      tick();
    }).catch(function () { /* offline for a moment: the next poll tries again */ }).then(function () {
      busy = false;
    });
  }
  setInterval(refresh, 2000);
  document.addEventListener("visibilitychange", refresh);
})();

// Passkeys: the account page registers them; Approve asks for one when a
// selected request's policy wants it, and sends the answer with the form.
// Without this script (or a passkey) such an approval is refused, and the
// page says why.
(function () {
  function post(url, body) {
    return fetch(url, { method: "POST", body: new URLSearchParams(body), credentials: "same-origin" }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) throw new Error(data.error || ("HTTP " + res.status));
        return data;
      });
    });
  }

  var add = document.getElementById("passkey-add");
  if (add && window.PublicKeyCredential) {
    add.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var err = document.getElementById("passkey-error");
      err.hidden = true;
      var fd = new FormData(add);
      post("/account/passkeys/begin", { csrf: fd.get("csrf") }).then(function (opts) {
        return navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts) });
      }).then(function (cred) {
        return post("/account/passkeys/finish", { csrf: fd.get("csrf"), name: fd.get("name"), answer: JSON.stringify(cred.toJSON()) });
      }).then(function () {
        window.location.reload();
      }).catch(function (e) {
        err.textContent = "The passkey was not added: " + e.message;
        err.hidden = false;
      });
    });
  }

  var decide = document.getElementById("decide");
  if (!decide || !window.PublicKeyCredential) return;
  decide.addEventListener("submit", function (ev) {
    var action = ev.submitter ? ev.submitter.value : "";
    if (action !== "approve" && action !== "once") return;
    if (decide.querySelector("input[name=assertion]")) return; // the answer is in: send
    var needs = Array.prototype.some.call(document.querySelectorAll("#pending-rows tr[data-passkey]"), function (row) {
      var box = row.querySelector("input[type=checkbox]");
      return box && box.checked;
    });
    if (!needs) return;
    ev.preventDefault();
    var fd = new FormData(decide);
    fd.set("action", action);
    post("/approvals/stepup", fd).then(function (opts) {
      return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts) });
    }).then(function (cred) {
      var put = function (name, value) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        decide.appendChild(input);
      };
      put("assertion", JSON.stringify(cred.toJSON()));
      put("action", action);
      decide.submit();
    }).catch(function (e) {
      var flash = document.createElement("p");
      flash.className = "flash bad";
      flash.setAttribute("role", "alert");
      flash.textContent = "Not approved: " + e.message;
      decide.parentNode.insertBefore(flash, decide);
    });
  });
})();

// The passkey step of a sign-in whose password was right.
(function () {
  var box = document.getElementById("factor");
  var button = document.getElementById("passkey-signin");
  if (!box || !button || !window.PublicKeyCredential) return;
  var next = box.getAttribute("data-next") || "/approvals";
  var fail = function (e) {
    var err = document.getElementById("passkey-signin-error");
    err.textContent = "Not signed in: " + e.message;
    err.hidden = false;
  };
  var post = function (url, body) {
    return fetch(url, { method: "POST", body: new URLSearchParams(body), credentials: "same-origin" }).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) throw new Error(data.error || ("HTTP " + res.status));
        return data;
      });
    });
  };
  button.addEventListener("click", function () {
    post("/login/passkey/begin", { next: next }).then(function (opts) {
      return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts) });
    }).then(function (cred) {
      return post("/login/passkey/finish", { next: next, answer: JSON.stringify(cred.toJSON()) });
    }).then(function (data) {
      window.location.assign(data.next);
    }).catch(fail);
  });
})();

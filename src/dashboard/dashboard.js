// salesingest dashboard: the drag-and-drop upload zone (the page works without it: the plain
// form below it uploads too). Files go to POST /ui/files with the session's CSRF token in the
// X-CSRF-Token header; the page reloads when all are done, so the new jobs appear.
(function () {
  "use strict";
  var zone = document.getElementById("dropzone");
  if (!zone || !window.fetch || !window.FormData) { return; }
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";
  var input = document.getElementById("dropzone-input");
  var results = document.getElementById("upload-results");
  zone.hidden = false;
  var form = document.querySelector("form.upload");
  if (form) { form.classList.add("secondary"); }

  function say(text, ok) {
    var li = document.createElement("li");
    li.textContent = text;
    li.className = ok ? "ok" : "bad";
    results.appendChild(li);
  }

  function describe(body) {
    // The answer is what `import --json` prints: one object or an array of them.
    var list = Array.isArray(body) ? body : (body && body.files) ? body.files : [body];
    return list.map(function (f) {
      if (!f) { return ""; }
      var what = f.status || "";
      if (f.job_id) { what += " as job " + f.job_id; }
      if (f.message) { what += ": " + f.message; }
      return (f.file || f.path || "") + " " + what;
    }).join("; ");
  }

  function upload(file) {
    var data = new FormData();
    data.append("file", file, file.name);
    return fetch("/ui/files", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "Accept": "application/json" }
    }).then(function (r) {
      return r.text().then(function (t) {
        var body = null;
        try { body = JSON.parse(t); } catch (e) { body = null; }
        var msg = body ? (body.error || describe(body)) : t;
        say(file.name + ": " + (r.ok ? "" : "HTTP " + r.status + " ") + msg, r.ok);
        return r.ok;
      });
    }, function (e) {
      say(file.name + ": " + e, false);
      return false;
    });
  }

  function send(files) {
    if (!files || !files.length) { return; }
    zone.classList.add("busy");
    var all = [];
    for (var i = 0; i < files.length; i++) { all.push(upload(files[i])); }
    Promise.all(all).then(function (oks) {
      zone.classList.remove("busy");
      if (oks.every(Boolean)) {
        setTimeout(function () { window.location.reload(); }, 600);
      }
    });
  }

  ["dragenter", "dragover"].forEach(function (ev) {
    zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (ev) {
    zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) { send(e.dataTransfer && e.dataTransfer.files); });
  input.addEventListener("change", function () { send(input.files); input.value = ""; });
})();

// clubline's office page: the few actions that change something go
// through the JSON API with the session's CSRF token (docs/api.md).
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function api(method, path, body, raw) {
  const opts = { method, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (raw !== undefined) {
    opts.body = raw;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res;
}

function flash(text, bad) {
  const p = document.getElementById("flash");
  p.textContent = text;
  p.className = bad ? "flash error" : "flash";
  p.hidden = false;
}

async function run(fn) {
  try { await fn(); } catch (e) { flash(e.message, true); }
}

document.addEventListener("DOMContentLoaded", () => {
  const login = document.getElementById("login");
  if (login) {
    login.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(async () => {
        const res = await fetch("/api/login", {
          method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
          body: JSON.stringify({ user: login.user.value, password: login.password.value }),
        });
        if (!res.ok) {
          let msg = login.dataset.wrong;
          if (res.status === 429) { try { msg = (await res.json()).error; } catch (e) { /* keep */ } }
          throw new Error(msg);
        }
        const next = new URLSearchParams(location.search).get("next");
        location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/now";
      });
    });
  }

  document.body.addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.action === "logout") {
      run(async () => { await api("POST", "/api/logout"); location.href = "/login"; });
    } else if (b.dataset.action === "probe") {
      const out = document.getElementById("probe-result");
      const label = b.textContent;
      b.disabled = true;
      b.textContent = b.dataset.wait;
      run(async () => {
        try {
          const res = await (await api("POST", "/api/probe")).json();
          out.textContent = res.summary;
          out.className = res.ok ? "" : "error";
          out.hidden = false;
        } finally {
          b.disabled = false;
          b.textContent = label;
        }
      });
    } else if (b.dataset.override) {
      run(async () => { await api("POST", "/api/override", { mode: b.dataset.override }); location.reload(); });
    } else if (b.closest("article.message")) {
      const card = b.closest("article.message");
      const id = encodeURIComponent(card.dataset.id);
      const note = card.querySelector("[data-note]");
      if (b.dataset.action === "done") {
        run(async () => { await api("POST", `/api/messages/${id}/done`, { note: note ? note.value : "" }); card.remove(); });
      } else if (b.dataset.action === "note") {
        run(async () => { await api("POST", `/api/messages/${id}/note`, { text: note.value }); location.reload(); });
      } else if (b.dataset.action === "reopen") {
        run(async () => { await api("POST", `/api/messages/${id}/reopen`); card.remove(); });
      }
    } else if (b.closest("article.prompt")) {
      const card = b.closest("article.prompt");
      const path = `/api/recordings/${card.dataset.lang}/${card.dataset.name}`;
      if (b.dataset.action === "upload") {
        const f = card.querySelector("[data-file]").files[0];
        if (!f) return;
        run(async () => { await api("POST", path, undefined, f); location.reload(); });
      } else if (b.dataset.action === "restore") {
        run(async () => { await api("POST", path + "/restore", { version: b.dataset.version }); location.reload(); });
      }
    }
  });

  document.body.addEventListener("change", (ev) => {
    const sel = ev.target.closest("select[data-assign]");
    if (!sel) return;
    const id = encodeURIComponent(sel.closest("article.message").dataset.id);
    run(() => api("POST", `/api/messages/${id}/assign`, { to: sel.value }));
  });

  const privacy = document.getElementById("privacy");
  if (privacy) {
    privacy.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const what = ev.submitter ? ev.submitter.dataset.privacy : "export";
      const number = privacy.number.value;
      const out = document.getElementById("privacy-result");
      if (what === "erase" && !confirm(privacy.dataset.confirm)) return;
      run(async () => {
        const res = await api("POST", "/api/privacy/" + what, { number });
        if (what === "export") {
          const url = URL.createObjectURL(await res.blob());
          const a = document.createElement("a");
          a.href = url; a.download = "clubline-export.zip"; a.click();
          URL.revokeObjectURL(url);
        } else {
          out.textContent = (await res.json()).erased;
          out.hidden = false;
        }
      });
    });
  }
});

// The minimal client of the hub foundation: sign in, then show the hub's status.
// Everything from the server is inserted as text, never as HTML.

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, body };
}

function showStatus(status) {
  const list = $("status-list");
  list.replaceChildren();
  const rows = {
    Version: status.version,
    "Data directory": status.data_dir,
    Store: `${status.store.backend}, ${status.store.memories} memories`,
    Uptime: `${Math.round(status.uptime_s)} s`,
  };
  for (const [name, value] of Object.entries(rows)) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
  $("status").hidden = false;
  $("login").hidden = true;
}

async function refresh() {
  try {
    const result = await api("/api/v1/status");
    $("unreachable").hidden = true;
    if (result.ok) showStatus(result.body);
    else $("login").hidden = false;
  } catch {
    $("unreachable").hidden = false;
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await api("/api/v1/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("token").value }),
  });
  $("login-error").textContent = result.ok ? "" : result.body.error?.message ?? "Sign-in failed.";
  if (result.ok) refresh();
});

refresh();

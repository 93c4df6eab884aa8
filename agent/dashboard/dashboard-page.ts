/**
 * The dashboard: one static page, no framework. It polls /api/overview every two seconds (connections,
 * routes, Events and errors) and follows /api/requests/stream (server-sent events) for requests as they
 * finish. The access token, when the admin address is exposed, comes from the page's own URL
 * (?token=…) and is passed on to both, since EventSource cannot send headers.
 */
export const DASHBOARD_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tunnel-ingress</title>
<style>
  :root { color-scheme: light dark; --muted: #777; --ok: #1a7f37; --bad: #cf222e; --line: #8884; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; }
  header { display: flex; gap: 1.5rem; align-items: baseline; flex-wrap: wrap; }
  h1 { font-size: 1.3rem; margin: 1rem 0 0.5rem; }
  h2 { font-size: 1rem; margin: 1.5rem 0 0.4rem; }
  .muted { color: var(--muted); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 0.25rem 0.6rem 0.25rem 0; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .ok { color: var(--ok); } .bad { color: var(--bad); }
  code { font-size: 0.9em; }
  #state { font-weight: 600; }
</style>
</head>
<body>
<header>
  <h1>tunnel-ingress</h1>
  <span id="state" class="muted">connecting…</span>
  <span class="muted">tunnel <code id="tunnel"></code></span>
  <span class="muted">connector <code id="connector"></code></span>
  <span class="muted">version <code id="version"></code></span>
</header>

<h2>Tunnel connections</h2>
<table id="connections"><thead><tr><th>index</th><th>state</th><th>location</th><th>protocol</th><th>edge</th><th>uptime</th><th>reconnects</th><th>last error</th></tr></thead><tbody></tbody></table>

<h2>Routes <span class="muted" id="generation"></span></h2>
<table id="routes"><thead><tr><th>host</th><th>path</th><th>Ingress</th><th>Service</th><th>endpoints</th></tr></thead><tbody></tbody></table>

<h2>Requests <span class="muted">(live)</span></h2>
<table id="requests"><thead><tr><th>time</th><th>method</th><th>host</th><th>path</th><th>status</th><th class="num">ms</th><th>endpoint</th><th class="num">bytes out</th><th>Cf-Ray</th></tr></thead><tbody></tbody></table>

<h2>Events and errors</h2>
<table id="activity"><thead><tr><th>time</th><th>kind</th><th>reason</th><th>about</th><th>message</th></tr></thead><tbody></tbody></table>

<script>
'use strict';
const token = new URLSearchParams(location.search).get('token');
const q = token ? '?token=' + encodeURIComponent(token) : '';
const $ = (id) => document.getElementById(id);

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text == null ? '' : String(text);
  if (cls) td.className = cls;
  return td;
}
function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) tr.appendChild(Array.isArray(c) ? cell(c[0], c[1]) : cell(c));
  return tr;
}
function fill(id, rows) {
  const body = $(id).tBodies[0];
  body.replaceChildren(...rows);
}
function uptime(since) {
  if (!since) return '';
  let s = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + s + 's';
}

async function refresh() {
  try {
    const res = await fetch('/api/overview' + q);
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const o = await res.json();
    const live = o.connections.filter((c) => c.state === 'registered').length;
    $('state').textContent = live + ' of ' + o.connections.length + ' connections up';
    $('state').className = live > 0 ? 'ok' : 'bad';
    $('tunnel').textContent = o.tunnelId;
    $('connector').textContent = o.connectorId;
    $('version').textContent = o.version;
    fill('connections', o.connections.map((c) => row([
      c.index, [c.state, c.state === 'registered' ? 'ok' : 'bad'], c.location, c.protocol, c.edge,
      c.state === 'registered' ? uptime(c.registeredAt) : '', c.reconnects, c.lastError,
    ])));
    const r = o.routes || {};
    $('generation').textContent = r.generation !== undefined ? '(generation ' + r.generation + ')' : '';
    const routes = (r.routes || []).map((e) => row([
      e.host || '*', e.path + (e.pathType ? ' (' + e.pathType + ')' : ''), e.ingress, e.service,
      e.unavailable ? [e.unavailable, 'bad'] : [(e.endpoints || []).join(', ') || 'no ready endpoint', (e.endpoints || []).length ? 'ok' : 'bad'],
    ]));
    if (r.mode === 'static') routes.push(row(['*', '/', '', '--url', [r.origin, 'ok']]));
    fill('routes', routes);
    fill('activity', o.activity.slice().reverse().map((a) => row([
      new Date(a.time).toLocaleTimeString(), [a.kind, a.kind === 'event' ? '' : 'bad'], a.reason, a.subject,
      a.message + (a.count > 1 ? ' (×' + a.count + ')' : ''),
    ])));
  } catch (err) {
    $('state').textContent = 'agent unreachable: ' + err.message;
    $('state').className = 'bad';
  }
}

function addRequest(r) {
  const body = $('requests').tBodies[0];
  body.insertBefore(row([
    new Date(r.time).toLocaleTimeString(), r.method, r.host, r.path,
    [r.status, r.status >= 500 ? 'bad' : r.status < 400 ? 'ok' : ''], [r.durationMs, 'num'],
    r.endpoint, [r.bytesOut, 'num'], r.ray,
  ]), body.firstChild);
  while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
}

new EventSource('/api/requests/stream' + q).addEventListener('request', (e) => addRequest(JSON.parse(e.data)));
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;

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
  .scroll { overflow-x: auto; }
  @media (max-width: 600px) {
    body { margin: 0 0.6rem 1.5rem; font-size: 13px; }
    header { gap: 0.3rem 1rem; }
    th, td { padding: 0.2rem 0.4rem 0.2rem 0; }
  }
</style>
</head>
<body>
<header>
  <h1>tunnel-ingress</h1>
  <span id="state" class="muted">connecting…</span>
  <span class="muted">tunnel <code id="tunnel"></code></span>
  <span class="muted">connector <code id="connector"></code></span>
  <span class="muted">version <code id="version"></code></span>
  <span class="muted">leader <b id="leader"></b></span>
  <span class="muted">caches <b id="caches"></b></span>
</header>

<h2>Tunnel connections</h2>
<div class="scroll"><table id="connections"><thead><tr><th>index</th><th>state</th><th>location</th><th>protocol</th><th>edge</th><th>uptime</th><th>reconnects</th><th>last error</th></tr></thead><tbody></tbody></table></div>

<h2>Routes <span class="muted" id="generation"></span></h2>
<div class="scroll"><table id="routes"><thead><tr><th>host</th><th>path</th><th>Ingress</th><th>Service</th><th>endpoints</th></tr></thead><tbody></tbody></table></div>

<h2>DNS</h2>
<div class="scroll"><table id="dns"><tbody></tbody></table></div>

<h2>Events and errors</h2>
<div class="scroll"><table id="activity"><thead><tr><th>time</th><th>kind</th><th>reason</th><th>about</th><th>message</th></tr></thead><tbody></tbody></table></div>

<h2>Requests <span class="muted">(live)</span></h2>
<div class="scroll"><table id="requests"><thead><tr><th>time</th><th>method</th><th>host</th><th>path</th><th>status</th><th class="num">ms</th><th>endpoint</th><th class="num">bytes in</th><th class="num">bytes out</th><th>Cf-Ray</th></tr></thead><tbody></tbody></table></div>

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
      e.host || '*', e.path + (e.pathType ? ' (' + e.pathType + ')' : ''), e.source, e.service || e.rule,
      e.unavailable ? [e.unavailable, 'bad'] : [(e.endpoints || []).join(', ') || 'no ready endpoint', (e.endpoints || []).length ? 'ok' : 'bad'],
    ]));
    if (r.mode === 'static') routes.push(row(['*', '/', '', '--url', [r.origin, 'ok']]));
    const d = r.defaultBackend;
    if (d) routes.push(row([
      'default backend', '(anything no rule matches)', d.source, d.service,
      d.unavailable ? [d.unavailable, 'bad'] : [(d.endpoints || []).join(', ') || 'no ready endpoint', (d.endpoints || []).length ? 'ok' : 'bad'],
    ]));
    fill('routes', routes);
    $('leader').textContent = o.leader === null ? 'n/a' : o.leader ? 'this replica' : 'another replica';
    $('caches').textContent = o.cachesSynced === null ? 'n/a' : o.cachesSynced ? 'synced' : 'syncing…';
    $('caches').className = o.cachesSynced === false ? 'bad' : '';
    const dns = o.dns || { mode: 'off' };
    const dnsRows = [row(['mode', dns.mode === 'off' ? 'off (no Cloudflare API token)' : dns.mode])];
    if (dns.mode !== 'off') {
      dnsRows.push(row(['written by', o.leader ? 'this replica (the leader)' : 'the leader']));
      dnsRows.push(row(['last sync', dns.lastSyncAt ? new Date(dns.lastSyncAt).toLocaleTimeString() : (o.leader ? 'not yet' : '(on the leader)')]));
      if (dns.lastError) dnsRows.push(row(['last error', [dns.lastError, 'bad']]));
      for (const c of dns.conflicts || []) dnsRows.push(row(['conflict', [c.host + ' (' + c.resource + '): held by ' + c.held, 'bad']]));
    }
    fill('dns', dnsRows);
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
    r.endpoint, [r.bytesIn, 'num'], [r.bytesOut, 'num'], r.ray,
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

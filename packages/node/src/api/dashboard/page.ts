// The dashboard page: one self-contained HTML document (styles and script inline, charts drawn as
// SVG by the script, no framework, nothing loaded from anywhere else), in two modes:
// - 'node': served by a validator at /dashboard; polls ./api/v1/dashboard/snapshot;
// - 'cluster': served by `bpci cluster up` at /dashboard; polls ./api/v1/dashboard/cluster, which
//   gathers every validator's snapshot (dashboard/cluster.ts).
// The script polls about once a second, keeps the last good data when a poll fails (and says how
// stale it is), and writes text only through textContent (validator ids and details come from
// the nodes). Every figure it shows is a field of a snapshot; rates and histograms are computed
// by the validator (dashboard.ts), the page only draws them. Elements the browser test reads carry
// data-field / data-panel attributes; the body gets data-ready="1" after the first render.

import { createHash } from 'node:crypto';

export type DashboardMode = 'node' | 'cluster';

const CSS = String.raw`
:root { --bg:#0f1419; --panel:#182028; --line:#2a3642; --text:#dde6ee; --dim:#8a9aa8; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --accent:#58a6ff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text); font:14px/1.4 "Liberation Sans", Arial, sans-serif; }
header { display:flex; align-items:baseline; gap:16px; padding:12px 20px; border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; }
header .live { margin-left:auto; color:var(--dim); }
header .live.ok::before { content:"\25CF  "; color:var(--ok); }
header .live.stale::before { content:"\25CF  "; color:var(--bad); }
main { display:grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap:14px; padding:14px 20px 24px; }
section.panel { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:12px 14px; min-width:0; }
section.panel.wide { grid-column: 1 / -1; }
section.panel h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0 0 8px; font-weight:600; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--dim); font-weight:600; font-size:12px; }
td.detail { white-space:normal; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.kv { display:grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap:8px 14px; margin-bottom:8px; }
.kv div span { display:block; color:var(--dim); font-size:12px; }
.kv div b { font-size:20px; font-weight:600; font-variant-numeric: tabular-nums; }
.st-ok { color:var(--ok); } .st-degraded { color:var(--warn); } .st-down, .st-unreachable { color:var(--bad); }
.note { color:var(--dim); font-size:12px; margin:6px 0 0; }
svg { display:block; width:100%; height:auto; }
svg text { fill:var(--dim); font-size:11px; }
.legend span { margin-right:14px; font-size:12px; }
.legend i { display:inline-block; width:10px; height:10px; margin-right:5px; border-radius:2px; }
`;

/** The client script. Plain ES2020 for the browser; no template literals (it lives in one). */
const SCRIPT = String.raw`
(function () {
  'use strict';
  var MODE = document.body.getAttribute('data-mode');
  var URL_ = MODE === 'cluster' ? 'api/v1/dashboard/cluster?history=300&events=50&evidence=20' : 'api/v1/dashboard/snapshot?history=300&events=50&evidence=20';
  var POLL_MS = 1000;
  var COLORS = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#bc8cff', '#39c5cf', '#ff7b72', '#e3b341', '#7ee787', '#a5d6ff'];
  var SVGNS = 'http://www.w3.org/2000/svg';
  var last = null, lastOkAt = 0, lastError = '';

  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, String(attrs[k]));
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function sv(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(parent, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(parent, x); }); return; }
    parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function fill(id, children) {
    var root = document.getElementById(id);
    while (root.firstChild) root.removeChild(root.firstChild);
    add(root, children);
  }
  function int(n) { return Math.round(n).toLocaleString('en-US'); }
  function fix(n, d) { return n.toFixed(d); }
  function ms(n) { return n >= 100 ? fix(n, 0) : n >= 10 ? fix(n, 1) : n >= 1 ? fix(n, 2) : fix(n, 3); }
  function clock(t) { return new Date(t).toISOString().slice(11, 19); }
  function dur(s) { return s < 1 ? fix(s * 1000, 0) + ' ms' : s < 120 ? fix(s, 1) + ' s' : fix(s / 60, 1) + ' min'; }
  function secLabel(s) { return s < 0.001 ? fix(s * 1e6, 0) + '\u00b5s' : s < 1 ? (s * 1000).toString().replace(/(\.\d)\d+$/, '$1') + 'ms' : s + 's'; }
  function kv(label, value, field) { return el('div', null, el('span', null, label), el('b', { 'data-field': field }, value)); }
  function sumValues(o) { var s = 0; for (var k in o) s += o[k]; return s; }
  function entries(o) { return Object.keys(o).sort().map(function (k) { return [k, o[k]]; }); }

  // Both modes become a list of validators, each { id, apiUrl, ok, error, snap }.
  function validatorsOf(data) {
    if (MODE === 'cluster') return data.validators.map(function (v) { return { id: v.validator_id, apiUrl: v.api_url, ok: v.reachable, error: v.error || '', snap: v.snapshot || null }; });
    return [{ id: data.validator_id, apiUrl: location.origin, ok: true, error: '', snap: data }];
  }
  // The validator whose view of the cluster is the most advanced (highest committed height).
  function reference(vs) {
    var best = null;
    vs.forEach(function (v) { if (v.snap && (!best || v.snap.status.last_committed_sequence > best.snap.status.last_committed_sequence)) best = v; });
    return best;
  }

  function healthCell(v) {
    if (!v.ok) return el('td', { 'class': 'st-unreachable', title: v.error }, 'unreachable');
    var h = v.snap.health, c = v.snap.consensus_health;
    var reasons = (h.reasons || []).concat(c.reasons || []);
    return el('td', { 'class': 'st-' + h.status, title: reasons.join('; ') }, h.status + (reasons.length ? ' (' + reasons[0] + ')' : ''));
  }

  function renderValidators(vs) {
    var rows = vs.map(function (v) {
      if (!v.snap) return el('tr', { 'data-validator': v.id }, el('td', null, v.id), healthCell(v), el('td', { colspan: 8, 'class': 'detail' }, v.error));
      var s = v.snap.status;
      var up = s.peers.filter(function (p) { return p.connected; }).length;
      return el('tr', { 'data-validator': v.id },
        el('td', null, v.id + (s.is_primary ? ' \u2605' : '')), healthCell(v),
        el('td', null, s.mode), el('td', { 'class': 'num' }, s.view), el('td', null, s.primary),
        el('td', { 'class': 'num', 'data-field': 'height-' + v.id }, int(s.last_committed_sequence)),
        el('td', { 'class': 'num' }, int(s.last_stable_checkpoint)),
        el('td', { 'class': 'num' }, up + '/' + s.peers.length),
        el('td', { 'data-field': 'crypto-' + v.id }, v.snap.crypto_backend || 'not reported'),
        el('td', null, v.snap.verify));
    });
    var table = el('table', null,
      el('tr', null, ['validator', 'health', 'mode', 'view', 'primary', 'height', 'checkpoint', 'links', 'crypto', 'verify'].map(function (h, i) { return el('th', i === 3 || (i >= 5 && i <= 7) ? { 'class': 'num' } : null, h); })),
      rows);
    var notes = [];
    if (MODE === 'node') {
      var s = vs[0].snap.status;
      notes.push(el('p', { 'class': 'note', 'data-field': 'links' }, 'links: ' + s.peers.map(function (p) { return p.validator_id + (p.connected ? ' up' : ' DOWN'); }).join(', ') + ' (peers\u2019 own health: see the cluster dashboard)'));
    }
    var warn = [];
    vs.forEach(function (v) { if (v.snap) (v.snap.health.warnings || []).forEach(function (w) { if (warn.indexOf(w) < 0) warn.push(w); }); });
    warn.forEach(function (w) { notes.push(el('p', { 'class': 'note st-degraded' }, w)); });
    fill('validators', [table, notes]);
  }

  function renderConsensus(vs) {
    var r = reference(vs);
    var s = r.snap.status, sum = r.snap.summary;
    var up = vs.filter(function (v) { return v.ok && v.snap && v.snap.health.status === 'ok'; }).length;
    fill('consensus', [
      el('div', { 'class': 'kv' },
        kv('view', int(s.view), 'view'),
        kv('leader (primary)', s.primary, 'leader'),
        kv('mode', s.mode, 'mode'),
        kv('committed height', int(s.last_committed_sequence), 'committed-height'),
        kv('requests committed', int(sum.transactions_committed), 'requests-committed'),
        kv('stable checkpoint', int(s.last_stable_checkpoint), 'checkpoint'),
        kv('watermarks', int(s.low_watermark) + '\u2013' + int(s.high_watermark), 'watermarks'),
        kv('in flight', int(s.inflight_sequences), 'inflight'),
        MODE === 'cluster'
          ? kv('validators ok', up + ' of ' + vs.length + ' (f = ' + s.fault_tolerance + ')', 'validators-ok')
          : kv('links up', s.peers.filter(function (p) { return p.connected; }).length + ' of ' + s.peers.length + ' peers (f = ' + s.fault_tolerance + ')', 'links-up')),
      el('p', { 'class': 'note' }, MODE === 'cluster' ? 'as seen by ' + r.id + ' (the highest committed height); protocol ' + r.snap.protocol : 'protocol ' + r.snap.protocol + ', this validator is ' + (s.is_primary ? 'the primary' : 'a backup'))]);
  }

  // Line chart of series [{ name, points: [[t, y]] }] over the last windowMs.
  function lineChart(series, unit, windowMs) {
    var W = 640, H = 170, L = 48, R = 10, T = 10, B = 22;
    var now = Date.now(), t0 = now - windowMs;
    var ymax = 0;
    series.forEach(function (s) { s.points.forEach(function (p) { if (p[0] >= t0 && p[1] > ymax) ymax = p[1]; }); });
    ymax = ymax > 0 ? niceCeil(ymax) : 1;
    var x = function (t) { return L + ((t - t0) / windowMs) * (W - L - R); };
    var y = function (v) { return T + (1 - v / ymax) * (H - T - B); };
    var g = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    [0, 0.5, 1].forEach(function (f) {
      g.appendChild(sv('line', { x1: L, x2: W - R, y1: y(ymax * f), y2: y(ymax * f), stroke: '#2a3642' }));
      g.appendChild(sv('text', { x: L - 6, y: y(ymax * f) + 4, 'text-anchor': 'end' }, fmtAxis(ymax * f)));
    });
    g.appendChild(sv('text', { x: L, y: H - 6 }, '-' + dur(windowMs / 1000)));
    g.appendChild(sv('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, 'now'));
    g.appendChild(sv('text', { x: L + 4, y: T + 10 }, unit));
    series.forEach(function (s, i) {
      var pts = s.points.filter(function (p) { return p[0] >= t0; }).map(function (p) { return fix(x(p[0]), 1) + ',' + fix(y(p[1]), 1); });
      if (pts.length > 1) g.appendChild(sv('polyline', { points: pts.join(' '), fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.8 }));
      else if (pts.length === 1) g.appendChild(sv('circle', { cx: pts[0].split(',')[0], cy: pts[0].split(',')[1], r: 3, fill: COLORS[i % COLORS.length] }));
    });
    return g;
  }
  function niceCeil(v) { var p = Math.pow(10, Math.floor(Math.log10(v))); var m = v / p; return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p; }
  function fmtAxis(v) { return v === 0 ? '0' : v >= 1000 ? fix(v / 1000, 1) + 'k' : v >= 10 ? fix(v, 0) : v >= 1 ? fix(v, 1) : fix(v, 2); }
  function legend(names) { return el('div', { 'class': 'legend' }, names.map(function (n, i) { return el('span', null, el('i', { style: 'background:' + COLORS[i % COLORS.length] }), n); })); }

  function renderThroughput(vs) {
    var live = vs.filter(function (v) { return v.snap && v.snap.history.length > 0; });
    var series = live.map(function (v) { return { name: v.id, points: v.snap.history.map(function (p) { return [p.t, p.requests_per_second]; }) }; });
    var lat = live.map(function (v) { return { name: v.id, points: v.snap.history.filter(function (p) { return p.latency_mean_ms !== undefined; }).map(function (p) { return [p.t, p.latency_mean_ms]; }) }; });
    var r = reference(vs);
    var h = r.snap.history;
    var lastP = h.length ? h[h.length - 1] : null;
    var win = Math.min(10, h.length), recent = 0;
    for (var i = h.length - win; i < h.length; i++) recent += h[i].requests_per_second;
    var span = h.length > 1 ? Math.max(60000, h[h.length - 1].t - h[0].t) : 60000;
    fill('throughput', [
      el('div', { 'class': 'kv' },
        kv('requests/s (last sample)', lastP ? fmtAxis(lastP.requests_per_second) : '0', 'throughput-now'),
        kv('requests/s (' + win + ' s mean)', win ? fmtAxis(recent / win) : '0', 'throughput-mean'),
        kv('rounds/s (last sample)', lastP ? fmtAxis(lastP.rounds_per_second) : '0', 'rounds-now'),
        kv('samples', int(h.length) + ' \u00d7 ' + r.snap.sample_interval_ms + ' ms', 'samples')),
      lineChart(series, 'requests committed per second', span),
      lineChart(lat, 'mean round latency, ms', span),
      legend(live.map(function (v) { return v.id; }))]);
  }

  function renderLatency(vs) {
    var withLat = vs.filter(function (v) { return v.snap && v.snap.latency; });
    if (withLat.length === 0) { fill('latency', el('p', { 'class': 'note', 'data-field': 'latency-none' }, 'this node runs without metrics: no latency histogram')); return; }
    var L0 = withLat[0].snap.latency;
    var n = L0.counts_total.length;
    var recent = new Array(n).fill(0), tot = new Array(n).fill(0), count = 0, sumS = 0, win = 0;
    withLat.forEach(function (v) {
      var L = v.snap.latency;
      for (var i = 0; i < n; i++) { recent[i] += L.counts_recent[i] || 0; tot[i] += L.counts_total[i] || 0; }
      count += L.count; sumS += L.sum_seconds; win = Math.max(win, L.recent_window_seconds);
    });
    var useRecent = sumValues(recent) > 0;
    var counts = useRecent ? recent : tot;
    var labels = L0.buckets_le_seconds.map(function (b) { return '\u2264' + secLabel(b); }).concat(['>' + secLabel(L0.buckets_le_seconds[L0.buckets_le_seconds.length - 1])]);
    // Show the buckets from the first to the last non-empty one (at least 6).
    var lo = counts.findIndex(function (c) { return c > 0; }), hi = n - 1 - counts.slice().reverse().findIndex(function (c) { return c > 0; });
    if (lo < 0) { lo = 0; hi = 5; }
    while (hi - lo < 5) { if (hi < n - 1) hi++; else if (lo > 0) lo--; else break; }
    var W = 640, H = 180, Lm = 48, T = 10, B = 34, bw = (W - Lm - 10) / (hi - lo + 1);
    var cmax = Math.max.apply(null, counts.slice(lo, hi + 1).concat([1]));
    var g = sv('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-field': 'latency-histogram' });
    g.appendChild(sv('text', { x: Lm - 6, y: T + 8, 'text-anchor': 'end' }, int(cmax)));
    g.appendChild(sv('text', { x: Lm - 6, y: H - B, 'text-anchor': 'end' }, '0'));
    for (var i = lo; i <= hi; i++) {
      var bh = (counts[i] / cmax) * (H - T - B), x = Lm + (i - lo) * bw;
      g.appendChild(sv('rect', { x: fix(x + 2, 1), y: fix(H - B - bh, 1), width: fix(bw - 4, 1), height: fix(bh, 1), fill: '#58a6ff' }, sv('title', null, labels[i] + ': ' + counts[i] + ' rounds')));
      g.appendChild(sv('text', { x: fix(x + bw / 2, 1), y: H - B + 14, 'text-anchor': 'middle' }, labels[i]));
      if (counts[i] > 0) g.appendChild(sv('text', { x: fix(x + bw / 2, 1), y: fix(H - B - bh - 3, 1), 'text-anchor': 'middle' }, int(counts[i])));
    }
    var r = reference(vs).snap.summary;
    fill('latency', [
      el('div', { 'class': 'kv' },
        kv('p50', ms(r.p50_latency_ms) + ' ms', 'latency-p50'),
        kv('p99', ms(r.p99_latency_ms) + ' ms', 'latency-p99'),
        kv('mean', (count > 0 ? ms((sumS / count) * 1000) : '0') + ' ms', 'latency-mean'),
        kv('rounds timed', int(count), 'latency-count')),
      g,
      el('p', { 'class': 'note' }, 'round latency: pre-prepare to commit at each validator (' + L0.metric + '), ' +
        (useRecent ? 'rounds of the last ' + dur(win) : 'all rounds since start (none in the last minute)') +
        (MODE === 'cluster' ? ', summed over ' + withLat.length + ' validators' : '') + '; p50/p99 over the last 4096 rounds at ' + reference(vs).id)]);
  }

  function eventRows(vs, pick) {
    var rows = [];
    vs.forEach(function (v) { if (v.snap) pick(v.snap).forEach(function (e) { rows.push({ v: v.id, e: e }); }); });
    rows.sort(function (a, b) { return (b.e.at || b.e.detected_at) - (a.e.at || a.e.detected_at); });
    return rows;
  }

  function renderViewChanges(vs) {
    var r = reference(vs);
    var sum = r.snap.summary, c = r.snap.counters;
    var rows = eventRows(vs, function (s) { return s.events.filter(function (e) { return e.kind !== 'slash'; }); }).slice(0, 40);
    var repl = c ? entries(c.leader_replacements).filter(function (x) { return x[1] > 0; }).map(function (x) { return x[0] + ' \u00d7' + x[1]; }).join(', ') : '';
    fill('viewchanges', [
      el('div', { 'class': 'kv' },
        kv('view changes', int(sum.view_changes), 'view-changes'),
        kv('leader replacements', int(sum.leader_replacements), 'leader-replacements'),
        kv('rounds failed', c ? int(c.rounds_failed) : 'n/a', 'rounds-failed')),
      repl ? el('p', { 'class': 'note', 'data-field': 'replaced-primaries' }, 'replaced primaries: ' + repl) : null,
      rows.length === 0
        ? el('p', { 'class': 'note', 'data-field': 'view-change-events' }, 'no view change since ' + (MODE === 'cluster' ? 'the validators started' : 'this validator started') + ': view ' + r.snap.status.view + ' has led throughout')
        : el('table', { 'data-field': 'view-change-events' },
            el('tr', null, el('th', null, 'time'), MODE === 'cluster' ? el('th', null, 'seen by') : null, el('th', null, 'event'), el('th', { 'class': 'num' }, 'view'), el('th', null, 'cause / detail')),
            rows.map(function (x) { return el('tr', { 'data-kind': x.e.kind }, el('td', null, clock(x.e.at)), MODE === 'cluster' ? el('td', null, x.v) : null, el('td', null, x.e.kind.replace(/_/g, ' ')), el('td', { 'class': 'num' }, x.e.view !== undefined ? x.e.view : ''), el('td', { 'class': 'detail' }, (x.e.cause ? x.e.cause.replace(/_/g, ' ') + ': ' : '') + x.e.detail)); }))]);
  }

  function renderEvidence(vs) {
    var faults = {}, total = 0;
    vs.forEach(function (v) { if (v.snap && v.snap.counters) entries(v.snap.counters.byzantine_faults).forEach(function (x) { faults[x[0]] = (faults[x[0]] || 0) + x[1]; total += x[1]; }); });
    var ev = eventRows(vs, function (s) { return s.evidence; });
    var sl = eventRows(vs, function (s) { return s.events.filter(function (e) { return e.kind === 'slash'; }); });
    var seen = MODE === 'cluster' ? ' (summed over validators: each counts what it detected)' : '';
    fill('evidence', [
      el('div', { 'class': 'kv' },
        kv('byzantine faults detected', int(total), 'byzantine-faults'),
        kv('evidence items', int(ev.length), 'evidence-count'),
        kv('slash events', int(sl.length), 'slash-count')),
      el('p', { 'class': 'note', 'data-field': 'fault-kinds' }, 'by kind' + seen + ': ' + (entries(faults).map(function (x) { return x[0] + ' ' + x[1]; }).join(', ') || 'none')),
      ev.length === 0 ? el('p', { 'class': 'note', 'data-field': 'evidence-list' }, 'no equivocation evidence recorded') :
        el('table', { 'data-field': 'evidence-list' },
          el('tr', null, el('th', null, 'detected'), el('th', null, 'against'), el('th', null, 'kind'), el('th', { 'class': 'num' }, 'view / seq'), el('th', null, 'id')),
          ev.slice(0, 20).map(function (x) { return el('tr', null, el('td', null, clock(x.e.detected_at)), el('td', null, x.e.validator_id), el('td', null, x.e.kind), el('td', { 'class': 'num' }, x.e.view + ' / ' + x.e.sequence), el('td', null, x.e.evidence_id)); })),
      sl.length === 0 ? null :
        el('table', { 'data-field': 'slash-list' },
          el('tr', null, el('th', null, 'time'), el('th', null, 'seen by'), el('th', null, 'validator'), el('th', null, 'reason'), el('th', null, 'detail')),
          sl.slice(0, 20).map(function (x) { return el('tr', null, el('td', null, clock(x.e.at)), el('td', null, x.v), el('td', null, x.e.validator_id), el('td', null, x.e.cause), el('td', { 'class': 'detail' }, x.e.detail)); }))]);
  }

  function renderCrypto(vs) {
    var rows = vs.filter(function (v) { return v.snap; }).map(function (v) {
      var c = v.snap.counters;
      return el('tr', null, el('td', null, v.id), el('td', { 'data-field': 'backend-' + v.id }, v.snap.crypto_backend || 'not reported'), el('td', null, v.snap.verify),
        el('td', { 'class': 'num' }, c ? int(c.signatures_valid) : 'n/a'), el('td', { 'class': 'num' }, c ? int(c.signatures_invalid) : 'n/a'),
        el('td', { 'class': 'num' }, c ? int(c.links_up) : 'n/a'), el('td', { 'class': 'num' }, !c ? 'n/a' : c.persist_count === 0 ? (/memory/.test((v.snap.health.checks.storage || {}).detail || '') ? 'memory mode' : 'none yet') : ms(c.persist_mean_ms) + ' ms'));
    });
    var names = [];
    vs.forEach(function (v) { if (v.snap && v.snap.crypto_backend && names.indexOf(v.snap.crypto_backend) < 0) names.push(v.snap.crypto_backend); });
    fill('crypto', [
      el('div', { 'class': 'kv' }, kv('crypto backend', names.join(', ') || 'not reported', 'crypto-backend')),
      el('table', null, el('tr', null, ['validator', 'backend', 'verify', 'sigs valid', 'sigs invalid', 'links up', 'persist mean'].map(function (h, i) { return el('th', i >= 3 ? { 'class': 'num' } : null, h); })), rows),
      el('p', { 'class': 'note' }, 'signatures verified by this validator\u2019s verify jobs; persist = group commit, issued to durable')]);
  }

  function render(data) {
    var vs = validatorsOf(data);
    if (!reference(vs)) { fill('validators', el('p', { 'class': 'note st-down' }, 'no validator answers: ' + vs.map(function (v) { return v.id + ': ' + v.error; }).join('; '))); return false; }
    renderValidators(vs);
    renderConsensus(vs);
    renderThroughput(vs);
    renderLatency(vs);
    renderViewChanges(vs);
    renderEvidence(vs);
    renderCrypto(vs);
    document.getElementById('title').textContent = MODE === 'cluster' ? 'bpci cluster \u2014 ' + vs.length + ' validators' : 'bpci \u2014 ' + vs[0].id;
    document.title = document.getElementById('title').textContent;
    return true;
  }

  function showLive() {
    var live = document.getElementById('live');
    var age = lastOkAt ? (Date.now() - lastOkAt) / 1000 : Infinity;
    var stale = age > 3 * POLL_MS / 1000;
    live.className = 'live ' + (stale ? 'stale' : 'ok');
    live.textContent = lastOkAt ? (stale ? 'stale ' + fix(age, 0) + ' s: ' + lastError : 'live, updated ' + clock(lastOkAt)) : (lastError ? 'no data: ' + lastError : 'connecting');
  }

  // An API with a bearer token (node.api.token_file): the page itself carries no data and loads
  // without one; its data requests send the token the user gives (the form, or #token=... in the
  // address, which never reaches a server), kept in sessionStorage for this tab only.
  var TOKEN_KEY = 'bpci-dashboard-token';
  function storedToken() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; } }
  function storeToken(t) { try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* private mode: this page load only */ } memToken = t; }
  var memToken = storedToken();
  if (location.hash.indexOf('#token=') === 0) {
    storeToken(decodeURIComponent(location.hash.slice(7)));
    history.replaceState(null, '', location.pathname + location.search);
  }
  function askToken(message) {
    var form = document.getElementById('token-form');
    form.hidden = false;
    document.getElementById('token-message').textContent = message;
  }
  document.getElementById('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    storeToken(document.getElementById('token-input').value.trim());
    document.getElementById('token-form').hidden = true;
  });

  function poll() {
    var headers = memToken ? { authorization: 'Bearer ' + memToken } : {};
    fetch(URL_, { cache: 'no-store', headers: headers }).then(function (r) {
      if (r.status === 401) askToken(memToken ? 'the token was refused; enter the API token' : 'this API needs its token (node.api.token_file)');
      return r.json().then(function (j) { if (!r.ok) throw new Error('HTTP ' + r.status + ': ' + (j.message || '')); return j; });
    }).then(function (j) {
      last = j;
      if (render(j)) { lastOkAt = Date.now(); lastError = ''; document.body.setAttribute('data-ready', '1'); }
      document.body.setAttribute('data-polls', String(Number(document.body.getAttribute('data-polls') || 0) + 1));
    }).catch(function (e) {
      lastError = String(e && e.message || e);
    }).then(function () { showLive(); setTimeout(poll, POLL_MS); });
  }
  setInterval(showLive, 1000);
  poll();
})();
`;

const PANELS: ReadonlyArray<{ readonly id: string; readonly title: string; readonly wide?: boolean }> = [
  { id: 'validators', title: 'Validators', wide: true },
  { id: 'consensus', title: 'Consensus' },
  { id: 'throughput', title: 'Throughput and latency over time' },
  { id: 'latency', title: 'Round latency histogram' },
  { id: 'viewchanges', title: 'View changes' },
  { id: 'evidence', title: 'Evidence and slashing' },
  { id: 'crypto', title: 'Crypto' },
];

const SCRIPT_SHA256 = createHash('sha256').update(SCRIPT, 'utf8').digest('base64');

/** The page for `mode`, and the sha256 of its one inline script (for the Content-Security-Policy). */
export function dashboardHtml(mode: DashboardMode): { readonly html: string; readonly scriptSha256: string } {
  const panels = PANELS.map((p) => `<section class="panel${p.wide ? ' wide' : ''}" data-panel="${p.id}"><h2>${p.title}</h2><div id="${p.id}">…</div></section>`).join('\n');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bpci dashboard</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body data-mode="${mode}">
<header><h1 id="title">bpci ${mode === 'cluster' ? 'cluster' : 'validator'}</h1><span id="live" class="live">connecting</span></header>
<form id="token-form" data-field="token-form" hidden><label><span id="token-message"></span> <input id="token-input" type="password" autocomplete="off" aria-label="API token"></label> <button type="submit">use</button></form>
<main>
${panels}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
  return { html, scriptSha256: SCRIPT_SHA256 };
}

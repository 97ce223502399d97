// radsurvey web console: keeps the pages live over Server-Sent Events and draws trends as SVG.
// No build step, no library: plain DOM. The JSON API (docs/web.md) is the contract.
"use strict";
(function () {
  const body = document.body;
  const page = body.dataset.page;
  const lang = body.dataset.lang;
  const TZ = body.dataset.tz || "UTC";
  const W = JSON.parse(document.getElementById("words").textContent);

  // Dose rates as a meter shows them: 3 decimals below 1, then 2, 1, 0 (0.052, 1.80, 13.2, 140).
  function digits(v) { const a = Math.abs(v); return a < 1 ? 3 : a < 10 ? 2 : a < 100 ? 1 : 0; }
  const COMMA = ["ru", "kk", "ro"];
  const PERSIAN = "۰۱۲۳۴۵۶۷۸۹";
  function digitsOf(t) { return lang === "fa" ? t.replace(/[0-9]/g, function (d) { return PERSIAN[+d]; }) : t; }
  function local(t) {
    if (COMMA.indexOf(lang) >= 0) return t.replace(".", ",");
    return lang === "fa" ? digitsOf(t.replace(".", "٫")) : t;
  }
  function num(v) {
    if (v === null || v === undefined) return "—";
    return local(Number(v).toFixed(digits(Number(v))));
  }
  // Limits and levels are the regulation's or the user's numbers: shown as written.
  function exact(v) { return v === null || v === undefined ? "—" : local(String(v)); }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // Times in the site's zone (body data-tz, [site] timezone) with the offset, as the server prints them:
  // "14:05:09 UTC+05:00"; the journal, the API and CSV downloads stay in UTC.
  const ZONE = new Intl.DateTimeFormat("en-GB", {
    timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset"
  });
  function parts(t) {
    const p = {};
    ZONE.formatToParts(new Date(t)).forEach(function (x) { p[x.type] = x.value; });
    const off = p.timeZoneName.replace("GMT", "");
    p.offset = "UTC" + (off || "+00:00");
    p.minutes = off ? (off[0] === "-" ? -1 : 1) * (60 * +off.slice(1, 3) + +off.slice(4, 6)) : 0;
    return p;
  }
  function day(p) { return COMMA.indexOf(lang) >= 0 ? p.day + "." + p.month + "." + p.year : p.year + "-" + p.month + "-" + p.day; }
  function hhmmss(ts) {
    if (!ts) return "";
    const p = parts(ts);
    return digitsOf(p.hour + ":" + p.minute + ":" + p.second + " " + p.offset);
  }
  function moment(ts) {
    if (!ts) return "—";
    const p = parts(ts);
    return digitsOf(day(p) + " " + p.hour + ":" + p.minute + ":" + p.second + " " + p.offset);
  }
  function hhmm(t, withDay) {
    const p = parts(t);
    return digitsOf((withDay ? day(p) + " " : "") + p.hour + ":" + p.minute);
  }
  // A time typed in the site's zone ("2026-12-07T10:00:00") as ISO 8601 with that zone's offset then.
  function siteTime(text) {
    if (/(Z|[+-]\d\d:\d\d)$/.test(text)) return text;
    const guess = Date.parse(text + "Z");
    const first = parts(guess).minutes;
    const minutes = parts(guess - first * 60000).minutes;
    const a = Math.abs(minutes);
    return text + (minutes < 0 ? "-" : "+") + String(Math.floor(a / 60)).padStart(2, "0") + ":" + String(a % 60).padStart(2, "0");
  }
  function unit(u) { const k = "unit:" + u; return k in W ? W[k] : u; }
  function rule(r, kind) {
    const name = W["kind:" + r] || W["kind:" + kind];
    if (!name) return r;
    return W["kind:" + r] ? name : r + " (" + name + ")";
  }
  function eventName(e) { return W["event:" + e] || e; }

  // -- live rows (overview, kiosk, alarms) ------------------------------------------------
  function valueCell(cell, row) {
    cell.replaceChildren();
    if (row.status === "live") {
      cell.append(el("span", { class: "value" }, num(row.effective_uSv_h)));
      if (row.below_background) cell.append(el("span", { class: "last" }, W.below_background));
    } else {
      cell.append(el("span", { class: "status status-" + row.status }, W[row.status] || row.status));
      if (row.last_effective_uSv_h !== null)
        cell.append(el("span", { class: "last" }, W.last + " " + num(row.last_effective_uSv_h) + " " + W.at + " " + hhmmss(row.last_ts)));
    }
  }
  function alarmText(row) {
    const a = row.alarm;
    let t = W[a.state] || a.state;
    if (!a.configured) t += " (" + W.no_alarm_rules + ")";
    else if (a.state !== "normal") t += " · " + (a.unacknowledged.length ? W.not_acknowledged : W.acknowledged);
    return t;
  }
  function updateRow(row) {
    document.querySelectorAll('[data-channel="' + CSS.escape(row.id) + '"]').forEach(function (box) {
      const e = box.querySelector(".c-e");
      if (e) valueCell(e, row);
      const lim = box.querySelector(".c-limit");
      if (lim) lim.textContent = exact(row.limit_uSv_h);
      const bar = box.querySelector("svg.bar");
      if (bar) {
        bar.setAttribute("class", "bar bar-" + row.alarm.state);
        const r = row.ratio === null ? 0 : Math.min(row.ratio * 100, 150);
        bar.querySelector(".fill").setAttribute("width", r.toFixed(1));
      }
      const pct = box.querySelector(".pct");
      if (pct) pct.textContent = row.ratio === null ? "—" : digitsOf(Math.round(row.ratio * 100) + " %");
      const al = box.querySelector(".c-alarm");
      if (al) {
        al.replaceChildren(el("span", { class: "state state-" + row.alarm.state }, alarmText(row)));
      }
      const m = box.querySelector(".c-meter");
      if (m) {
        m.replaceChildren(row.meter + ": ", el("span", { class: "meter-" + row.meter_state }, W[row.meter_state] || row.meter_state));
      }
      if (box.classList.contains("tile")) box.className = "tile alarm-" + row.alarm.state + " status-" + row.status;
      box.dataset.status = row.status;
      box.dataset.alarm = row.alarm.state;
    });
  }
  function updateSinks(sinks) {
    const ul = document.getElementById("sinks");
    if (!ul) return;
    const names = Object.keys(sinks);
    if (!names.length) return;
    ul.replaceChildren.apply(ul, names.map(function (n) {
      const s = sinks[n];
      return el("li", {}, n + ": " + W.backlog + " " + s.backlog_rows + " " + W.rows + (s.errors ? " · " + W.error + " " + s.errors : ""));
    }));
  }
  function live() {
    const conn = document.getElementById("conn");
    const clock = document.getElementById("clock");
    const src = new EventSource("/api/events");
    src.addEventListener("overview", function (ev) {
      const o = JSON.parse(ev.data);
      o.channels.forEach(updateRow);
      updateSinks(o.sinks);
      if (clock) clock.textContent = hhmmss(o.now);
      conn.hidden = true;
    });
    src.addEventListener("channel", function (ev) { updateRow(JSON.parse(ev.data)); });
    src.addEventListener("sinks", function (ev) { updateSinks(JSON.parse(ev.data)); });
    src.onerror = function () { conn.textContent = W.connection_lost; conn.hidden = false; };
    src.onopen = function () { conn.hidden = true; };
    if (clock) setInterval(function () { clock.textContent = hhmmss(Date.now()); }, 1000);
  }

  // -- trend chart -------------------------------------------------------------------------
  const SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function drawTrend(box, data) {
    const title = box.querySelector("title");
    box.replaceChildren(title);
    const X0 = 70, X1 = 990, Y0 = 20, Y1 = 360;
    const t0 = Date.parse(data.start), t1 = Date.parse(data.end);
    const b = data.buckets;
    let top = data.limit_uSv_h || 0;
    b.forEach(function (r) { top = Math.max(top, r[4]); });
    data.levels.forEach(function (l) { top = Math.max(top, l.level_uSv_h); });
    top = niceMax(top * 1.05);
    const x = function (t) { return X0 + (X1 - X0) * (t - t0) / (t1 - t0); };
    const y = function (v) { return Y1 - (Y1 - Y0) * v / top; };
    for (let i = 0; i <= 4; i++) {
      const v = top * i / 4;
      box.append(svg("line", { x1: X0, x2: X1, y1: y(v), y2: y(v), class: "grid" }));
      box.append(svg("text", { x: X0 - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, num(v)));
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (t1 - t0) * i / 4;
      const label = hhmm(t, t1 - t0 > 86400e3);
      box.append(svg("text", { x: x(t), y: Y1 + 22, class: "axis", "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle" }, label));
    }
    // min-max band and mean line, broken where buckets are missing (no data is not a value)
    const step = data.bucket_s * 1000;
    let segs = [], cur = [];
    b.forEach(function (r, i) {
      const t = Date.parse(r[0]);
      if (i && t - Date.parse(b[i - 1][0]) > step * 1.5) { segs.push(cur); cur = []; }
      cur.push(r);
    });
    if (cur.length) segs.push(cur);
    segs.forEach(function (s) {
      const half = step / 2;
      const upper = s.map(function (r) { return x(Date.parse(r[0]) + half) + "," + y(r[4]); });
      const lower = s.slice().reverse().map(function (r) { return x(Date.parse(r[0]) + half) + "," + y(r[2]); });
      box.append(svg("polygon", { points: upper.concat(lower).join(" "), class: "band" }));
      box.append(svg("polyline", { points: s.map(function (r) { return x(Date.parse(r[0]) + half) + "," + y(r[3]); }).join(" "), class: "mean" }));
    });
    if (data.limit_uSv_h) {
      box.append(svg("line", { x1: X0, x2: X1, y1: y(data.limit_uSv_h), y2: y(data.limit_uSv_h), class: "limit" }));
      box.append(svg("text", { x: X1 - 4, y: y(data.limit_uSv_h) - 4, class: "label", "text-anchor": "end" }, W.dmd_e + " " + exact(data.limit_uSv_h)));
    }
    data.levels.forEach(function (l) {
      box.append(svg("line", { x1: X0, x2: X1, y1: y(l.level_uSv_h), y2: y(l.level_uSv_h), class: "level level-" + l.state }));
      box.append(svg("text", { x: X0 + 4, y: y(l.level_uSv_h) - 4, class: "label" }, rule(l.rule, l.kind) + " " + (W[l.state] || l.state) + " " + exact(Number(l.level_uSv_h.toPrecision(6)))));
    });
    data.events.forEach(function (e) {
      const t = Date.parse(e.ts);
      if (t < t0 || t > t1) return;
      const m = svg("line", { x1: x(t), x2: x(t), y1: Y0, y2: Y1, class: "event event-" + e.state });
      m.append(svg("title", {}, W.alarm_event + ": " + rule(e.rule, e.kind) + " " + (W[e.state] || e.state) + " " + moment(e.ts)));
      box.append(m);
    });
    box.append(svg("line", { x1: X0, x2: X0, y1: Y0, y2: Y1, class: "axis-line" }));
    box.append(svg("line", { x1: X0, x2: X1, y1: Y1, y2: Y1, class: "axis-line" }));
    const n = b.reduce(function (a, r) { return a + r[1]; }, 0);
    document.getElementById("trend-caption").textContent = b.length
      ? "E, " + W.uSv_h + ": " + W.mean + " (" + W.min_max + ") · " + digitsOf(String(n)) + " · " + digitsOf(String(data.bucket_s)) + " " + W["unit:s"] + " · " + moment(data.start) + " – " + moment(data.end)
      : W.no_samples;
    box.dataset.rendered = String(b.length);
    const tb = document.querySelector("#events tbody");
    tb.replaceChildren.apply(tb, data.events.map(function (e) {
      const tr = el("tr");
      [moment(e.ts), rule(e.rule, e.kind), eventName(e.event), W[e.state] || e.state, e.value === null ? "—" : num(e.value) + " " + unit(e.unit), e.acknowledged_by || ""]
        .forEach(function (c) { tr.append(el("td", {}, c)); });
      return tr;
    }));
  }
  function trend() {
    const box = document.getElementById("trend");
    const q = new URLSearchParams(location.search);
    const params = new URLSearchParams();
    if (q.get("from")) {
      params.set("from", siteTime(q.get("from")));
      if (q.get("to")) params.set("to", siteTime(q.get("to")));
    } else params.set("range", q.get("range") || "1h");
    const api = "/api/channels/" + encodeURIComponent(box.dataset.channel) + "/trend?" + params;
    document.getElementById("json").href = api;
    document.getElementById("csv").href = api.replace("/trend?", "/trend.csv?");
    function load() {
      fetch(api, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
        if (d.error) { document.getElementById("trend-caption").textContent = d.error; return; }
        drawTrend(box, d);
      });
    }
    load();
    if (!q.get("from")) setInterval(load, 30000);
  }

  if (page === "overview" || page === "kiosk" || page === "alarms") live();
  if (page === "channel") trend();
})();

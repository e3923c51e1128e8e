// The stream dashboard: reads its own event stream and draws the last hour as SVG lines.
"use strict";
(function () {
  const root = document.getElementById("echo-dashboard");
  if (!root) return;
  const SVG = "http://www.w3.org/2000/svg";
  const HOUR = 3600;
  const COLOURS = ["#417690", "#c0392b", "#e67e22", "#27ae60", "#8e44ad", "#7f8c8d"];
  let points = [];

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function clock(t) {
    return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // series: [{name, values: [number|null per point]}]
  function draw(section, series) {
    const svg = section.querySelector("svg");
    const width = svg.clientWidth || 400;
    const height = svg.clientHeight || 180;
    const left = 44, right = 8, top = 8, bottom = 22;
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const times = points.map((p) => p.t);
    if (times.length < 2) {
      el("text", { x: left, y: height / 2, class: "empty" }, svg).textContent = "Waiting for samples…";
      section.dataset.points = "0";
      return;
    }
    const t0 = times[0], t1 = times[times.length - 1];
    let max = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
    max = max > 0 ? max * 1.1 : 1;
    const x = (t) => left + ((t - t0) / (t1 - t0 || 1)) * (width - left - right);
    const y = (v) => top + (1 - v / max) * (height - top - bottom);
    el("line", { x1: left, y1: top, x2: left, y2: height - bottom, class: "axis" }, svg);
    el("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: "axis" }, svg);
    el("text", { x: 2, y: top + 10, class: "label" }, svg).textContent = max >= 10 ? Math.round(max) : max.toFixed(1);
    el("text", { x: 2, y: height - bottom, class: "label" }, svg).textContent = "0";
    el("text", { x: left, y: height - 6, class: "label" }, svg).textContent = clock(t0);
    const end = el("text", { x: width - right, y: height - 6, class: "label", "text-anchor": "end" }, svg);
    end.textContent = clock(t1);
    if (series.every((s) => s.values.every((v) => v === null))) {
      el("text", { x: left + 8, y: top + 20, class: "empty" }, svg).textContent = "Nothing in this hour";
    }
    series.forEach((s, i) => {
      const coords = [];
      s.values.forEach((v, j) => { if (v !== null) coords.push(`${x(times[j]).toFixed(1)},${y(v).toFixed(1)}`); });
      if (coords.length) {
        el("polyline", { points: coords.join(" "), class: "line", stroke: COLOURS[i % COLOURS.length], "data-series": s.name }, svg);
      }
    });
    section.dataset.points = String(times.length);
    const legend = section.querySelector(".legend");
    if (legend) {
      legend.replaceChildren();
      series.forEach((s, i) => {
        const item = document.createElement("li");
        const swatch = document.createElement("i");
        swatch.style.background = COLOURS[i % COLOURS.length];
        item.append(swatch, s.name);
        legend.appendChild(item);
      });
    }
  }

  function redraw() {
    const reasons = [...new Set(points.flatMap((p) => Object.keys(p.ends)))].sort();
    const charts = {
      connects: [{ name: "connects", values: points.map((p) => p.connects) }],
      ends: reasons.length
        ? reasons.map((r) => ({ name: r, values: points.map((p) => p.ends[r] || 0) }))
        : [{ name: "ends", values: points.map(() => 0) }],
      events: [{ name: "events/s", values: points.map((p) => p.events_per_second) }],
      lag: [{ name: "lag", values: points.map((p) => p.lag_ms) }],
    };
    for (const section of root.querySelectorAll("[data-chart]")) draw(section, charts[section.dataset.chart]);
  }

  function showOpen(payload) {
    document.getElementById("open-total").textContent = payload.total;
    document.getElementById("dashboard-server").textContent = payload.server;
    const body = document.querySelector("#open-streams tbody");
    body.replaceChildren();
    for (const [name, count] of Object.entries(payload.streams).sort((a, b) => b[1] - a[1])) {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.textContent = name;
      const n = document.createElement("td");
      n.className = "count";
      n.textContent = count;
      row.append(cell, n);
      body.appendChild(row);
    }
  }

  const state = document.getElementById("dashboard-state");
  const source = new EventSource(root.dataset.events);
  source.onopen = () => { state.textContent = "live"; };
  source.onerror = () => { state.textContent = "reconnecting…"; };
  source.addEventListener("metrics_history", (e) => {
    const payload = JSON.parse(e.data);
    document.getElementById("dashboard-interval").textContent = payload.interval;
    points = payload.points;
    redraw();
  });
  source.addEventListener("metrics_sample", (e) => {
    const point = JSON.parse(e.data);
    points.push(point);
    while (points.length && points[0].t < point.t - HOUR) points.shift();
    redraw();
  });
  source.addEventListener("open_streams", (e) => showOpen(JSON.parse(e.data)));
  window.addEventListener("resize", redraw);
})();

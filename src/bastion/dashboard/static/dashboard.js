// Bastion dashboard: draws the charts from the page's JSON data blocks, auto-refresh,
// confirmations. Served by the gateway itself; no other script runs on these pages.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 560, H = 200, PAD = { l: 56, r: 12, t: 12, b: 28 };

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v, unit) {
    if (v === null || v === undefined) return "–";
    if (unit === "$") return "$" + (v < 1 ? v.toFixed(4) : v.toFixed(2));
    const s = Math.abs(v) >= 1e6 ? (v / 1e6).toFixed(1) + "M" :
      Math.abs(v) >= 1e3 ? (v / 1e3).toFixed(1) + "k" : (Math.round(v * 100) / 100).toString();
    return unit && unit !== "$" ? s + " " + unit : s;
  }
  function tick(t) {
    const d = new Date(t * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes());
  }
  function axes(svg, max, unit) {
    for (let i = 0; i <= 4; i++) {
      const y = PAD.t + (H - PAD.t - PAD.b) * (1 - i / 4);
      el("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: "grid" }, svg);
      el("text", { x: PAD.l - 6, y: y + 4, class: "tick", "text-anchor": "end" }, svg)
        .textContent = fmt(max * i / 4, unit);
    }
  }
  function legend(fig, labels) {
    const div = document.createElement("div");
    div.className = "legend";
    labels.forEach((l, i) => {
      const s = document.createElement("span");
      s.className = "key s" + i;
      s.textContent = l;
      div.appendChild(s);
    });
    fig.appendChild(div);
  }
  function timeChart(plot, rows, fields, unit, kind) {
    const svg = el("svg", { viewBox: "0 0 " + W + " " + H, class: "svg" });
    const max = Math.max(1e-9, ...rows.flatMap((r) => fields.map((f) => r[f] || 0)));
    axes(svg, max, unit);
    const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b, n = Math.max(rows.length, 1);
    const x = (i) => PAD.l + iw * (i + 0.5) / n;
    const y = (v) => PAD.t + ih * (1 - (v || 0) / max);
    [[0, "start"], [Math.floor(n / 2), "middle"], [n - 1, "end"]].forEach(([i, anchor]) => {
      if (rows[i]) el("text", { x: x(i), y: H - 8, class: "tick", "text-anchor": anchor }, svg)
        .textContent = tick(rows[i].t);
    });
    fields.forEach((f, s) => {
      if (kind === "bar") {
        const bw = Math.max(1, iw / n / fields.length - 1);
        rows.forEach((r, i) => {
          const v = r[f] || 0;
          const b = el("rect", { x: x(i) - iw / n / 2 + s * bw, y: y(v), width: bw,
                                 height: PAD.t + ih - y(v), class: "bar s" + s }, svg);
          el("title", {}, b).textContent = tick(r.t) + ": " + fmt(v, unit);
        });
      } else {
        const pts = rows.map((r, i) => r[f] === null || r[f] === undefined ? null : x(i) + "," + y(r[f]))
          .filter((p) => p !== null);
        el("polyline", { points: pts.join(" "), class: "line s" + s }, svg);
        rows.forEach((r, i) => {
          if (r[f] === null || r[f] === undefined || !r[f]) return;
          const c = el("circle", { cx: x(i), cy: y(r[f]), r: 2.5, class: "dot s" + s }, svg);
          el("title", {}, c).textContent = tick(r.t) + ": " + fmt(r[f], unit);
        });
      }
    });
    plot.appendChild(svg);
  }
  function hbarChart(plot, rows, field, unit) {
    const h = 22, height = Math.max(1, rows.length) * h + 8;
    const svg = el("svg", { viewBox: "0 0 " + W + " " + height, class: "svg hbar" });
    const max = Math.max(1e-9, ...rows.map((r) => r[field] || 0));
    rows.forEach((r, i) => {
      const v = r[field] || 0, y = 4 + i * h, bw = (W - 230) * v / max;
      el("text", { x: 150, y: y + 15, class: "tick", "text-anchor": "end" }, svg).textContent =
        String(r.label).slice(0, 24);
      const b = el("rect", { x: 156, y: y + 2, width: Math.max(1, bw), height: h - 6, class: "bar s0" }, svg);
      el("title", {}, b).textContent = r.label + ": " + fmt(v, unit);
      el("text", { x: 160 + bw, y: y + 15, class: "tick" }, svg).textContent = fmt(v, unit);
    });
    if (!rows.length) el("text", { x: 10, y: 20, class: "tick" }, svg).textContent = "No data yet.";
    plot.appendChild(svg);
  }
  function draw() {
    document.querySelectorAll("figure.chart").forEach((fig) => {
      const src = document.getElementById(fig.dataset.source);
      const plot = fig.querySelector(".plot");
      if (!src || !plot) return;
      const rows = JSON.parse(src.textContent || "[]");
      const fields = fig.dataset.fields.split(",");
      const unit = fig.dataset.unit || "";
      if (fig.dataset.kind === "hbar") hbarChart(plot, rows, fields[0], unit);
      else timeChart(plot, rows, fields, unit, fig.dataset.kind);
      legend(fig, fig.dataset.labels.split(","));
      fig.classList.add("drawn");
    });
  }
  function autoRefresh() {
    const box = document.getElementById("auto-refresh");
    const every = Number(document.body.dataset.refreshS || 0);
    if (!box || !every) return;
    box.checked = localStorage.getItem("bastion.autoRefresh") === "1";
    let timer = null;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = box.checked ? setTimeout(() => location.reload(), every * 1000) : null;
    };
    box.addEventListener("change", () => {
      localStorage.setItem("bastion.autoRefresh", box.checked ? "1" : "0");
      arm();
    });
    arm();
  }
  function confirmations() {
    document.querySelectorAll("[data-confirm]").forEach((b) => {
      b.addEventListener("click", (e) => {
        if (!window.confirm(b.dataset.confirm)) e.preventDefault();
      });
    });
  }
  document.addEventListener("DOMContentLoaded", () => {
    draw();
    autoRefresh();
    confirmations();
    document.body.classList.add("ready");
  });
})();

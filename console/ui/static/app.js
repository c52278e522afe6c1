// The console's one script: times in the viewer's zone, copy buttons, and
// the overview's live chart. Every page works without it, but the chart.
"use strict";

function localTimes(root) {
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.title = t.textContent; t.textContent = d.toLocaleString(); }
  }
}

function copyButtons() {
  for (const b of document.querySelectorAll("button[data-copy]")) {
    b.addEventListener("click", async () => {
      const text = document.getElementById(b.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(text); b.textContent = "Copied"; }
      catch (e) {
        const r = document.createRange();
        r.selectNodeContents(document.getElementById(b.dataset.copy));
        const s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
        b.textContent = "Selected: press Ctrl+C";
      }
    });
  }
}

const svgNS = "http://www.w3.org/2000/svg";

function drawChart(el, perMinute) {
  const w = 600, h = 160, max = Math.max(1, ...perMinute);
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const bw = w / perMinute.length;
  perMinute.forEach((n, i) => {
    const r = document.createElementNS(svgNS, "rect");
    const bh = Math.round((n / max) * h);
    r.setAttribute("x", (i * bw + 1).toFixed(1));
    r.setAttribute("y", String(h - bh));
    r.setAttribute("width", Math.max(1, bw - 2).toFixed(1));
    r.setAttribute("height", String(bh));
    const title = document.createElementNS(svgNS, "title");
    title.textContent = `${perMinute.length - 1 - i} min ago: ${n}`;
    r.appendChild(title);
    svg.appendChild(r);
  });
  el.replaceChildren(svg);
  const legend = document.getElementById("chart-legend");
  if (legend) legend.textContent = `From an hour ago (left) to this minute (right); the highest bar is ${max} a minute, this minute ${perMinute[perMinute.length - 1]}.`;
  el.setAttribute("aria-label", `Registrations per minute over the last hour; this minute ${perMinute[perMinute.length - 1]}, most ${max}`);
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c;
    tr.appendChild(td);
  }
  return tr;
}

function fill(id, rows, empty, cols) {
  const tb = document.getElementById(id);
  if (!tb) return;
  tb.replaceChildren(...(rows.length ? rows : [row([empty])]));
  if (!rows.length) tb.firstChild.firstChild.colSpan = cols;
}

async function live(el) {
  try {
    const res = await fetch(el.dataset.live, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (res.status === 401 || res.redirected) { location.reload(); return; }
    if (!res.ok) return;
    const o = await res.json();
    drawChart(el, o.registrations_per_minute);
    document.getElementById("devices-total").textContent = o.devices;
    document.getElementById("devices-online").textContent = o.online;
    document.getElementById("registrations-hour").textContent = o.registrations_per_minute.reduce((a, b) => a + b, 0);
    const base = el.dataset.live.replace(/\/live$/, "");
    fill("latest", o.latest.map(r => {
      const a = document.createElement("a");
      a.href = `${base}/devices/${r.device_id}`; a.textContent = r.device_number;
      const t = document.createElement("time");
      t.setAttribute("datetime", r.at); t.textContent = new Date(r.at).toLocaleString();
      return row([t, a, r.client_addr]);
    }), "None in the last hour.", 3);
    fill("refusals", o.refusals.map(r => row([r.code, String(r.count)])), "None.", 2);
    fill("addrs", o.top_refused.map(r => row([r.addr, String(r.count)])), "None.", 2);
  } catch (e) { /* the next round tries again */ }
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  copyButtons();
  const chart = document.getElementById("chart");
  if (chart) { live(chart); setInterval(() => live(chart), 1000); }
});

/* nacre benchmark report: draws the charts described in the "nacre-data" JSON block into the inline SVGs.
 *
 * Every string in the data (labels, targets, category names) is untrusted, so data only ever reaches the page
 * through textContent and setAttribute, never through markup. Nothing is fetched; the page works offline and
 * from file://. Each drawn chart container gets data-rendered="1".
 */
(function () {
  "use strict";

  const W = 720; // viewBox width; the SVG scales down with its container
  const CHAR_W = 6.6; // rough width of one label character at 11.5px, for margins and truncation
  const LOW_RGB = [241, 245, 251];
  const HIGH_RGB = [29, 78, 137];

  // Formatting mirrors nacre/bench/_report.py so the charts and the tables print the same numbers.
  function fmtNumber(v) {
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    if (Math.abs(v) >= 100) return v.toFixed(0);
    return String(Number(v.toPrecision(3)));
  }

  function fmt(v, format) {
    if (v === null || v === undefined) return "–";
    return format === "percent" ? (100 * v).toFixed(1) + " %" : fmtNumber(v);
  }

  function fmtTick(v, format) {
    return format === "percent" ? String(Math.round(v * 1000) / 10) + " %" : fmtNumber(v);
  }

  function interval(v, format) {
    if (v.low === null || v.high === null) return "";
    return " [" + fmt(v.low, format).replace(" %", "") + ", " + fmt(v.high, format).replace(" %", "") + "]";
  }

  function truncate(text, maxChars) {
    return text.length > maxChars ? text.slice(0, Math.max(1, maxChars - 1)) + "…" : text;
  }

  function isNum(v) {
    return typeof v === "number" && isFinite(v);
  }

  // Create an element in the parent's namespace (SVG here), set attributes, and optionally its text.
  function add(parent, name, attrs, text) {
    const node = document.createElementNS(parent.namespaceURI, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function tooltip(node, text) {
    add(node, "title", {}, text);
    return node;
  }

  function scale(d0, d1, r0, r1) {
    const span = d1 - d0 || 1;
    return (v) => r0 + ((v - d0) / span) * (r1 - r0);
  }

  // Round tick values ("nice" steps of 1, 2, 2.5 or 5 × 10^k) covering [lo, hi].
  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) hi = lo + 1;
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw * 0.999);
    const ticks = [];
    const start = Math.floor(lo / step + 1e-9) * step;
    for (let t = start; t < hi + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)));
    if (ticks.length < 2) ticks.push(Number((start + step).toPrecision(12)));
    return ticks;
  }

  function size(svg, width, height) {
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
  }

  function noData(svg) {
    size(svg, W, 40);
    add(svg, "text", { class: "na", x: 8, y: 24 }, "no data");
  }

  // Grouped horizontal bars: one band per row label, one bar per run, CI whiskers, value printed at the end.
  function drawBars(svg, spec) {
    const runs = spec.runs;
    const rows = spec.rows;
    const format = spec.format;
    if (!rows.length) return noData(svg);
    const nums = [];
    for (const row of rows) {
      for (const v of row.values) {
        if (!v || !isNum(v.value)) continue;
        nums.push(v.value);
        if (isNum(v.low)) nums.push(v.low);
        if (isNum(v.high)) nums.push(v.high);
      }
    }
    // Rates keep the full 0-100 % axis so bars of different charts compare honestly; a CI bound outside it
    // (a rounding artefact) is clipped rather than stretching the axis.
    const pct = format === "percent";
    const ticks = niceTicks(pct ? 0 : Math.min(0, ...nums), Math.max(pct ? 1 : 0, ...nums), 5);
    const lo = ticks[0];
    const hi = ticks[ticks.length - 1];
    const clip = (v) => Math.min(hi, Math.max(lo, v));
    const longest = Math.max(4, ...rows.map((r) => r.label.length));
    const labelW = Math.min(220, longest * CHAR_W + 10);
    const left = labelW + 10;
    const right = 80;
    const top = 6;
    const barH = 14;
    const gap = 3;
    const pad = 12;
    const bandH = runs.length * (barH + gap) - gap + pad;
    const plotH = rows.length * bandH;
    const height = top + plotH + 26;
    size(svg, W, height);
    const x = scale(lo, hi, left, W - right);

    const grid = add(svg, "g", { class: "tick" });
    for (const t of ticks) {
      add(grid, "line", { class: "grid", x1: x(t), x2: x(t), y1: top, y2: top + plotH });
      add(grid, "text", { x: x(t), y: top + plotH + 16, "text-anchor": "middle" }, fmtTick(t, format));
    }
    add(svg, "line", { class: "axis", x1: x(0), x2: x(0), y1: top, y2: top + plotH });

    rows.forEach((row, i) => {
      const y0 = top + i * bandH + pad / 2;
      const label = add(svg, "text", {
        class: "label",
        x: left - 8,
        y: y0 + (bandH - pad) / 2,
        "text-anchor": "end",
        "dominant-baseline": "middle",
      }, truncate(row.label, Math.floor(labelW / CHAR_W)));
      tooltip(label, row.label);
      row.values.forEach((v, k) => {
        const run = runs[k];
        const cy = y0 + k * (barH + gap);
        const mid = cy + barH / 2;
        if (!v || !isNum(v.value)) {
          add(svg, "text", { class: "na", x: x(0) + 4, y: mid, "dominant-baseline": "middle" }, "n/a");
          return;
        }
        const x1 = x(clip(Math.min(0, v.value)));
        const x2 = x(clip(Math.max(0, v.value)));
        const bar = add(svg, "rect", {
          class: "bar run-" + run.color,
          x: x1,
          y: cy,
          width: Math.max(x2 - x1, 0.75),
          height: barH,
        });
        const n = isNum(v.n) ? " (n = " + v.n + ")" : "";
        tooltip(bar, run.label + " — " + row.label + ": " + fmt(v.value, format) + interval(v, format) + n);
        let end = x2;
        if (isNum(v.low) && isNum(v.high)) {
          const a = x(clip(v.low));
          const b = x(clip(v.high));
          const d = "M" + a + " " + (mid - 4) + "V" + (mid + 4) + "M" + a + " " + mid + "H" + b +
            "M" + b + " " + (mid - 4) + "V" + (mid + 4);
          add(svg, "path", { class: "whisker", d: d });
          end = Math.max(end, b);
        }
        add(svg, "text", { class: "value", x: end + 5, y: mid, "dominant-baseline": "middle" }, fmt(v.value, format));
      });
    });
  }

  // Overlaid curves: one path (and its points) per run that has the curve.
  function drawLines(svg, spec) {
    const series = spec.series;
    const xs = [];
    const ys = [];
    for (const s of series) {
      s.x.forEach((xv, i) => {
        if (isNum(xv) && isNum(s.y[i])) {
          xs.push(xv);
          ys.push(s.y[i]);
        }
      });
    }
    if (!xs.length) return noData(svg);
    const height = 300;
    const left = 60;
    const right = 20;
    const top = 12;
    const bottom = 46;
    size(svg, W, height);
    const xt = niceTicks(Math.min(...xs), Math.max(...xs), 6);
    const yt = niceTicks(Math.min(...ys), Math.max(...ys), 5);
    const x = scale(xt[0], xt[xt.length - 1], left, W - right);
    const y = scale(yt[0], yt[yt.length - 1], height - bottom, top);

    const grid = add(svg, "g", { class: "tick" });
    for (const t of xt) {
      add(grid, "line", { class: "grid", x1: x(t), x2: x(t), y1: top, y2: height - bottom });
      add(grid, "text", { x: x(t), y: height - bottom + 16, "text-anchor": "middle" }, fmtNumber(t));
    }
    for (const t of yt) {
      add(grid, "line", { class: "grid", x1: left, x2: W - right, y1: y(t), y2: y(t) });
      add(grid, "text", { x: left - 6, y: y(t), "text-anchor": "end", "dominant-baseline": "middle" }, fmtNumber(t));
    }
    add(svg, "line", { class: "axis", x1: left, x2: W - right, y1: height - bottom, y2: height - bottom });
    add(svg, "line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom });
    if (spec.x_label) {
      add(svg, "text", { class: "axis-label", x: (left + W - right) / 2, y: height - 8, "text-anchor": "middle" },
        spec.x_label);
    }
    if (spec.y_label) {
      const cy = (top + height - bottom) / 2;
      add(svg, "text", {
        class: "axis-label",
        x: 14,
        y: cy,
        "text-anchor": "middle",
        transform: "rotate(-90 14 " + cy + ")",
      }, spec.y_label);
    }

    for (const s of series) {
      const run = spec.runs[s.run];
      let d = "";
      let penDown = false;
      s.x.forEach((xv, i) => {
        const yv = s.y[i];
        // A missing y value breaks the line instead of joining across the gap.
        if (!isNum(xv) || !isNum(yv)) {
          penDown = false;
          return;
        }
        d += (penDown ? "L" : "M") + x(xv).toFixed(2) + " " + y(yv).toFixed(2);
        penDown = true;
      });
      tooltip(add(svg, "path", { class: "series run-" + run.color, d: d }), run.label);
      s.x.forEach((xv, i) => {
        const yv = s.y[i];
        if (!isNum(xv) || !isNum(yv)) return;
        const dot = add(svg, "circle", { class: "point run-" + run.color, cx: x(xv), cy: y(yv), r: 3 });
        tooltip(dot, run.label + ": " + (spec.x_label || "x") + " = " + fmtNumber(xv) + ", " +
          (spec.y_label || "y") + " = " + fmtNumber(yv));
      });
    }
  }

  function shade(t) {
    const c = LOW_RGB.map((low, i) => Math.round(low + (HIGH_RGB[i] - low) * t));
    return "rgb(" + c.join(",") + ")";
  }

  // One row per run, one column per category; null is grey, every value is printed in its cell.
  function drawHeatmap(svg, spec) {
    const cols = spec.columns;
    const runs = spec.runs;
    if (!cols.length) return noData(svg);
    const nums = spec.values.flat().filter(isNum);
    let lo = nums.length ? Math.min(...nums) : 0;
    let hi = nums.length ? Math.max(...nums) : 1;
    // Fractions keep a fixed 0-1 scale so equal colours mean equal values across heatmaps.
    if (lo >= 0 && hi <= 1) {
      lo = 0;
      hi = 1;
    }
    if (!(hi > lo)) hi = lo + 1;
    const labelW = Math.min(240, Math.max(60, Math.max(...runs.map((r) => r.label.length)) * CHAR_W + 10));
    const cellW = Math.max(48, Math.min(90, (W - labelW - 90) / cols.length));
    const cellH = 28;
    const colChars = Math.min(24, Math.max(...cols.map((c) => c.length)));
    const headH = Math.round(colChars * CHAR_W * 0.7 + 18);
    const top = headH;
    const width = Math.max(W, labelW + cols.length * cellW + 90);
    const height = top + runs.length * cellH + 44;
    size(svg, width, height);
    const t = (v) => (v - lo) / (hi - lo);

    cols.forEach((col, j) => {
      const cx = labelW + j * cellW + cellW / 2;
      const label = add(svg, "text", {
        class: "label",
        x: cx,
        y: top - 6,
        transform: "rotate(-40 " + cx + " " + (top - 6) + ")",
      }, truncate(col, colChars));
      tooltip(label, col);
    });
    runs.forEach((run, i) => {
      const y0 = top + i * cellH;
      add(svg, "text", {
        class: "label",
        x: labelW - 8,
        y: y0 + cellH / 2,
        "text-anchor": "end",
        "dominant-baseline": "middle",
      }, truncate(run.label, Math.floor((labelW - 10) / CHAR_W)));
      cols.forEach((col, j) => {
        const v = spec.values[i][j];
        const known = isNum(v);
        const attrs = { class: known ? "cell" : "cell null", x: labelW + j * cellW, y: y0, width: cellW, height: cellH };
        if (known) attrs.fill = shade(t(v));
        tooltip(add(svg, "rect", attrs), run.label + " — " + col + ": " + (known ? fmtNumber(v) : "no value"));
        add(svg, "text", {
          class: known && t(v) > 0.55 ? "cell-text dark" : "cell-text",
          x: labelW + j * cellW + cellW / 2,
          y: y0 + cellH / 2,
          "text-anchor": "middle",
          "dominant-baseline": "middle",
        }, known ? fmtNumber(v) : "–");
      });
    });

    // Colour key: five steps from the lowest to the highest value of the scale.
    const keyY = top + runs.length * cellH + 12;
    for (let k = 0; k < 5; k++) {
      const value = lo + ((hi - lo) * k) / 4;
      add(svg, "rect", { class: "scale", x: labelW + k * 44, y: keyY, width: 44, height: 10, fill: shade(k / 4) });
      add(svg, "text", { class: "value", x: labelW + k * 44 + 22, y: keyY + 24, "text-anchor": "middle" },
        fmtNumber(Number(value.toPrecision(3))));
    }
    add(svg, "rect", { class: "cell null", x: labelW + 5 * 44 + 16, y: keyY, width: 14, height: 10 });
    add(svg, "text", { class: "value", x: labelW + 5 * 44 + 36, y: keyY + 9 }, "no value");
  }

  const DRAW = new Map([
    ["bars", drawBars],
    ["lines", drawLines],
    ["heatmap", drawHeatmap],
  ]);

  function main() {
    const block = document.getElementById("nacre-data");
    if (!block) return;
    let data;
    try {
      data = JSON.parse(block.textContent);
    } catch (err) {
      console.error("nacre report: unreadable data block", err);
      return;
    }
    const specs = new Map((data.charts || []).map((c) => [c.id, c]));
    for (const box of document.querySelectorAll(".chart[data-chart-id]")) {
      const spec = specs.get(box.getAttribute("data-chart-id"));
      const svg = box.querySelector("svg.plot");
      const draw = spec && DRAW.get(spec.kind);
      if (!svg || !draw) continue;
      try {
        draw(svg, spec);
        box.setAttribute("data-rendered", "1");
      } catch (err) {
        box.setAttribute("data-rendered", "error");
        const note = document.createElement("p");
        note.className = "warn";
        note.textContent = "This chart could not be drawn; the numbers are in the JSON data block.";
        box.appendChild(note);
        console.error("nacre report: chart " + spec.id, err);
      }
    }
    // Collapsed <details> would print as one line each, so printing opens every example.
    window.addEventListener("beforeprint", () => {
      for (const d of document.querySelectorAll("details")) d.open = true;
    });
  }

  main();
})();

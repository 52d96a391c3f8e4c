// Draws every plot of a landscape report from the JSON in #surface-data; redraws on control changes.
"use strict";
const surfaces = JSON.parse(document.getElementById("surface-data").textContent);
const metricSelect = document.getElementById("metric");
const scaleSelect = document.getElementById("scale");
const clipInput = document.getElementById("clip");
const config = {responsive: true, displaylogo: false};

function transform(z, log) {
  const f = v => (v === null ? null : log ? Math.log10(Math.max(v, 1e-12)) : v);
  return Array.isArray(z[0]) ? z.map(row => row.map(f)) : z.map(f);
}
function partner(metric) {
  return metric.endsWith("_loss") ? metric.replace(/_loss$/, "_acc") : metric.replace(/_acc$/, "_loss");
}
function range(arrays) {
  const flat = arrays.flat(2).filter(v => v !== null && Number.isFinite(v));
  return [Math.min(...flat), Math.max(...flat)];
}
function argmin(z) {
  let best = [0, 0], value = Infinity;
  z.forEach((row, i) => row.forEach((v, j) => { if (v !== null && v < value) { value = v; best = [i, j]; } }));
  return best;
}
function hover(metric, log) {
  const label = (log ? "log10 " : "") + metric.replace("_", " ");
  return "α=%{x:.3f}<br>β=%{y:.3f}<br>" + label + "=%{z:.4g}<br>" + partner(metric).replace("_", " ") +
         "=%{customdata:.4g}<extra></extra>";
}

// The opening view of a loss runs from the lowest minimum to the clip (#clip nats) above it, so the
// basin fills the view; higher values are drawn at the clip (a flat lid in 3-D).
function colourRange(zs, metric, scale) {
  const [zmin, zmax] = range(zs);
  const above = Number(clipInput.value) > 0 ? Number(clipInput.value) : 5;
  const clipped = scale === "clipped" && metric.endsWith("_loss") && zmax > zmin + above;
  return [zmin, clipped ? zmin + above : zmax, clipped];
}
// A loss's colours spread over round heights above its minimum (0.01, 0.02, 0.05, 0.1, … nats), so
// the basin, where models differ, gets most of the colours rather than the walls above it.
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                 "#b5de2b", "#fde725"];
function basinColours(zmin, zmax) {
  const span = zmax - zmin, heights = [0];
  for (let e = -2; 10 ** e <= span; e++) {
    for (const m of [1, 2, 5]) { if (m * 10 ** e < span) heights.push(m * 10 ** e); }
  }
  heights.push(span);
  const stops = heights.map((h, k) => [h / span, VIRIDIS[Math.round(k * (VIRIDIS.length - 1) / (heights.length - 1))]]);
  const ticks = heights.filter(h => h > 0 && Math.abs(Math.log10(h) - Math.round(Math.log10(h))) < 1e-9);
  return {colorscale: stops, tickvals: ticks.map(h => zmin + h), ticktext: ticks.map(h => "min+" + h)};
}
function colours(zmin, zmax, metric, log) {
  return metric.endsWith("_loss") && !log && zmax - zmin > 0.1 ? basinColours(zmin, zmax)
    : {colorscale: "Viridis", tickvals: null, ticktext: null};
}
function capped(z, top) {
  return z.map(row => row.map(v => (v === null ? null : Math.min(v, top))));
}
function pathTrace(s, xaxis, yaxis, showlegend) {
  return {type: "scatter", mode: "lines+markers", name: "training path", showlegend,
          x: s.trajectory.map(p => p[0]), y: s.trajectory.map(p => p[1]), xaxis, yaxis,
          line: {color: "crimson", width: 1.5}, marker: {size: 5}};
}

function drawCurvature(s, i) {  // |λmin/λmax| of `landscape hessian-map`, beside the loss
  if (!s.curvature) return;
  const c = s.curvature;
  const trace = c.y
    ? {type: "heatmap", x: c.x, y: c.y, z: c.ratio, zmin: 0, zmax: 1, colorscale: "Viridis",
       colorbar: {title: {text: "|λmin/λmax|"}}, hovertemplate: "α %{x}<br>β %{y}<br>|λmin/λmax| %{z:.3g}<extra></extra>"}
    : {type: "scatter", mode: "lines+markers", x: c.x, y: c.ratio, name: "|λmin/λmax|"};
  Plotly.react(`s${i}-hessian`, [trace],
               {title: {text: `|λmin/λmax|, 1 in ${c.every} points per axis${c.note} (near 0: locally convex)`},
                xaxis: {title: {text: s.xlabel}, constrain: "domain"},
                yaxis: c.y ? {title: {text: s.ylabel}, scaleanchor: "x", constrain: "domain"}
                           : {title: {text: "|λmin/λmax|"}}}, config);
}

function draw() {
  const metric = metricSelect.value, log = scaleSelect.value === "log";
  const zs = surfaces.map(s => transform(s.values[metric], log));
  const [zmin, zmax, clipped] = colourRange(zs, metric, scaleSelect.value);
  const title = (log ? "log10 " : "") + metric.replace("_", " ") + (clipped ? " (clipped)" : "");
  const scale = colours(zmin, zmax, metric, log);
  const twoD = surfaces[0].y !== null;
  if (twoD) {
    const panels = surfaces.map((s, i) => ({
      type: "contour", x: s.x, y: s.y, z: zs[i], customdata: s.values[partner(metric)], zmin, zmax,
      coloraxis: "coloraxis", xaxis: "x" + (i + 1), yaxis: "y" + (i + 1), hovertemplate: hover(metric, log),
      contours: {coloring: "heatmap"}, name: s.name}));
    const paths = surfaces.flatMap((s, i) => (s.trajectory ? [pathTrace(s, "x" + (i + 1), "y" + (i + 1), i === 0)] : []));
    const layout = {grid: {rows: 1, columns: surfaces.length, pattern: "independent"},
                    coloraxis: {cmin: zmin, cmax: zmax, colorscale: scale.colorscale,
                                 colorbar: {title: {text: title}, tickvals: scale.tickvals, ticktext: scale.ticktext}},
                    annotations: surfaces.map((s, i) => ({text: s.activation || s.name, showarrow: false,
                      xref: "x" + (i + 1) + " domain", yref: "y" + (i + 1) + " domain", x: 0.5, y: 1.08})),
                    margin: {t: 40}, height: 420, width: 150 + 330 * surfaces.length, autosize: false};
    surfaces.forEach((s, i) => {  // square panels: one unit of α as long as one of β
      const k = i === 0 ? "" : String(i + 1);
      layout["xaxis" + k] = {title: {text: s.xlabel}, constrain: "domain"};
      layout["yaxis" + k] = {title: {text: i === 0 ? s.ylabel : ""}, scaleanchor: "x" + k, constrain: "domain"};
    });
    Plotly.react("comparison", [...panels, ...paths], layout, config);
    const slice = (axis) => surfaces.map((s, i) => {
      const [iy, ix] = argmin(zs[i]);
      return {type: "scatter", mode: "lines", name: s.activation || s.name,
              x: axis === "x" ? s.x : s.y, y: axis === "x" ? zs[i][iy] : zs[i].map(row => row[ix])};
    });
    const sliceRange = clipped ? {range: [zmin - 0.05 * (zmax - zmin), zmax]} : {};
    Plotly.react("slice-x", slice("x"), {title: {text: "through each minimum, along each model's own α"},
                 xaxis: {title: {text: surfaces[0].xlabel}}, yaxis: {title: {text: title}, ...sliceRange}}, config);
    Plotly.react("slice-y", slice("y"), {title: {text: "through each minimum, along each model's own β"},
                 xaxis: {title: {text: surfaces[0].ylabel}}, yaxis: {title: {text: title}, ...sliceRange}}, config);
    surfaces.forEach((s, i) => {
      const common = {x: s.x, y: s.y, z: zs[i], customdata: s.values[partner(metric)], cmin: zmin, cmax: zmax,
                      colorscale: scale.colorscale, hovertemplate: hover(metric, log)};
      const lid = clipped ? capped(zs[i], zmax) : zs[i];
      Plotly.react(`s${i}-3d`, [{...common, z: lid, type: "surface", showscale: false}],
                   {title: {text: "3-D" + (clipped ? " (values above the clip drawn at it)" : "")},
                    scene: {xaxis: {title: {text: "α"}}, yaxis: {title: {text: "β"}},
                            zaxis: {title: {text: title}, range: [zmin - 0.02 * (zmax - zmin), zmax]},
                            aspectmode: "manual", aspectratio: {x: 1, y: 1, z: 0.7}},
                    margin: {l: 0, r: 0, b: 0}}, config);
      const path = s.trajectory ? [pathTrace(s, "x", "y", true)] : [];
      Plotly.react(`s${i}-contour`, [{...common, type: "contour", zmin, zmax, contours: {coloring: "heatmap"},
                                      colorbar: {title: {text: title}, tickvals: scale.tickvals,
                                                 ticktext: scale.ticktext}},
                                     ...path],
                   {title: {text: "contours"}, xaxis: {title: {text: s.xlabel}, constrain: "domain"},
                    yaxis: {title: {text: s.ylabel}, scaleanchor: "x", constrain: "domain"}}, config);
    });
  } else {
    const lines = surfaces.map((s, i) => ({type: "scatter", mode: "lines", name: s.activation || s.name,
                                           x: s.x, y: zs[i]}));
    const layout = {xaxis: {title: {text: surfaces[0].xlabel}}, yaxis: {title: {text: title}}};
    Plotly.react("comparison", lines, layout, config);
    Plotly.react("slice-x", lines, {...layout, title: {text: "along α"}}, config);
    Plotly.react("slice-y", [], {title: {text: "(1-D surfaces have no β)"}}, config);
    surfaces.forEach((s, i) => Plotly.react(`s${i}-line`, [lines[i]], {...layout, title: {text: s.name}}, config));
  }
  surfaces.forEach(drawCurvature);
  document.body.dataset.metric = metric;
  document.body.dataset.scale = scaleSelect.value;
  document.body.dataset.zrange = JSON.stringify([zmin, zmax]);
}
metricSelect.addEventListener("change", draw);
scaleSelect.addEventListener("change", draw);
clipInput.addEventListener("change", draw);
draw();

// Usage over time, from GET /api/v1/usage: requests and errors, tokens, ingestion and
// latency as time-series charts (uPlot, vendored), and a breakdown per key, agent, model or
// endpoint as a chart of the busiest few and a table of totals. Labels are text nodes.
import uPlot from "../vendor/uPlot.esm.js";
import { get } from "../lib/api.js";
import { clear, el, fillTable, toast } from "../lib/dom.js";

const RANGES = { "Last hour": "minute", "Last 24 hours": "hour", "Last 30 days": "day" };
const BREAKDOWNS = { "Everything": "", "API key": "caller", "Agent": "agent", "Model": "model",
  "Endpoint": "endpoint" };
const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#f08c00", "#c92a2a"];
const BUSIEST = 6;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

// One uPlot chart that follows its container's width.
function chart(title, labels, xs, columns) {
  const box = el("div.card.chart", { "data-chart": title }, el("h4", {}, title));
  const series = [{}, ...labels.map((label, i) => ({
    label, stroke: PALETTE[i % PALETTE.length], width: 2, points: { show: xs.length < 25 },
  }))];
  const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--line"), width: 1 },
    ticks: { stroke: cssVar("--line") } };
  const plot = new uPlot({ width: 320, height: 170, series, axes: [axis, { ...axis, size: 56 }],
    scales: { x: { time: true } }, legend: { live: false } }, [xs, ...columns], box);
  new ResizeObserver(() => plot.setSize({ width: Math.max(200, box.clientWidth - 24), height: 170 }))
    .observe(box);
  return box;
}

function groupName(series, dimension) {
  const group = series.group;
  if (!dimension) return "all";
  const value = group[dimension] || "";
  if (!value) return dimension === "caller" ? "no key (refused)" : `no ${dimension}`;
  return group[`${dimension}_name`] || value;
}

function totalsTable(report, dimension) {
  const heads = [dimension ? Object.keys(BREAKDOWNS).find((k) => BREAKDOWNS[k] === dimension) : "",
    "Requests", "Errors", "Avg ms", "Tokens in", "Tokens out", "Documents", "Chunks"];
  const row = (name, t) => el("tr", {}, el("td", {}, name),
    [t.requests, t.errors, t.latency_ms_avg, t.tokens_in, t.tokens_out, t.documents, t.chunks]
      .map((v) => el("td.num", {}, String(v))));
  return fillTable(el("table.models.usage-totals"), heads,
    [...report.series.map((s) => row(groupName(s, dimension), s.totals)),
      ...(dimension ? [row("Total", report.totals)] : [])]);
}

function charts(report, dimension) {
  const points = report.series[0]?.points || [];
  const xs = points.map((p) => Date.parse(p.t) / 1000);
  const sum = (field) => xs.map((_, i) => report.series.reduce((n, s) => n + s.points[i][field], 0));
  const boxes = [
    chart("Requests", ["Requests", "Errors"], xs, [sum("requests"), sum("errors")]),
    chart("Tokens", ["In", "Out"], xs, [sum("tokens_in"), sum("tokens_out")]),
    chart("Ingestion", ["Documents", "Chunks"], xs, [sum("documents"), sum("chunks")]),
  ];
  if (dimension && report.series.length) {
    const busiest = report.series.slice(0, BUSIEST);
    boxes.push(chart(`Requests by ${dimension === "caller" ? "key" : dimension}`,
      busiest.map((s) => groupName(s, dimension)), xs,
      busiest.map((s) => s.points.map((p) => p.requests))));
  } else {
    boxes.push(chart("Latency (ms)", ["Average", "Slowest"], xs,
      [xs.map((_, i) => report.series[0].points[i].latency_ms_avg),
        xs.map((_, i) => report.series[0].points[i].latency_ms_max)]));
  }
  return boxes;
}

export function usagePanel() {
  const range = el("select", { "aria-label": "Time range" },
    Object.entries(RANGES).map(([label, bucket]) => el("option", { value: bucket, selected: bucket === "hour" }, label)));
  const breakdown = el("select", { "aria-label": "Break down by" },
    Object.entries(BREAKDOWNS).map(([label, dim]) => el("option", { value: dim }, label)));
  const grid = el("div.chart-grid");
  const totals = el("div");
  const panel = el("section.usage", {}, el("div.bar-tools", {}, el("h3", {}, "Usage"), range, breakdown),
    grid, totals);

  async function load() {
    const query = new URLSearchParams({ bucket: range.value });
    if (breakdown.value) query.set("group_by", breakdown.value);
    try {
      const report = await get(`/api/v1/usage?${query}`);
      if (!report.series.length) {
        clear(grid, el("p.muted", {}, "Nothing used in this range yet."));
        clear(totals);
        return;
      }
      clear(grid, charts(report, breakdown.value));
      clear(totals, totalsTable(report, breakdown.value));
    } catch (error) { toast(error.message); }
  }
  range.addEventListener("change", load);
  breakdown.addEventListener("change", load);
  panel.load = load;
  return panel;
}

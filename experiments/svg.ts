/**
 * A small dependency-free SVG plotter for experiment results: line plots
 * (several series, optional log-scale y) and grouped bar plots, with axes,
 * "nice" ticks, axis labels, a title and a legend.
 */

/** One curve of a line plot; non-finite y values leave a gap. */
export interface LineSeries {
  name: string;
  x: readonly number[];
  y: readonly number[];
}

/** A line plot: one or more series over a shared numeric x axis. */
export interface LinePlot {
  kind: "line";
  title: string;
  xLabel: string;
  yLabel: string;
  /** Plot x on a log10 scale (points with x <= 0 are skipped). */
  logX?: boolean;
  /** Plot y on a log10 scale (points with y <= 0 are skipped). */
  logY?: boolean;
  /** Show only this y range; values outside it are drawn clamped to its edges (e.g. to keep a divergent run from squashing the rest). */
  yRange?: readonly [number, number];
  series: readonly LineSeries[];
}

/** One bar per category; the series of a bar plot are drawn side by side in each category. */
export interface BarSeries {
  name: string;
  values: readonly number[];
}

/** A grouped bar plot: `categories` along x, one bar per series in each group. */
export interface BarPlot {
  kind: "bar";
  title: string;
  xLabel: string;
  yLabel: string;
  categories: readonly string[];
  series: readonly BarSeries[];
}

export type PlotSpec = LinePlot | BarPlot;

const HEIGHT = 440;
const MARGIN = { left: 78, top: 44, bottom: 62 };
const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

const plotW = 462;
/** The legend sits right of the plot; the image widens to fit its longest name (about 7 px a character at 12 px). */
const legendWidth = (names: readonly string[]) => 60 + 7 * Math.max(10, ...names.map((n) => n.length));
const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Formats a tick value compactly (no float noise like 0.30000000000000004). */
function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/**
 * Tick values covering [lo, hi] at a 1-2-5 step giving about `count` ticks
 * (Heckbert's "nice numbers"). Returns the widened range too.
 */
export function niceTicks(lo: number, hi: number, count = 6): { ticks: number[]; lo: number; hi: number } {
  if (!(Number.isFinite(lo) && Number.isFinite(hi)))
    throw new RangeError(`niceTicks: range [${lo}, ${hi}] is not finite`);
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  // Division can round toward the range (e.g. a subnormal lo); step out once more if it did.
  let start = Math.floor(lo / step) * step;
  if (start > lo) start -= step;
  let end = Math.ceil(hi / step) * step;
  if (end < hi) end += step;
  const ticks: number[] = [];
  for (let i = 0; start + i * step <= end + step * 1e-9; i++) ticks.push(Number((start + i * step).toPrecision(12)));
  return { ticks, lo: start, hi: end };
}

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(s)}</text>`;
}

function frame(spec: PlotSpec, body: string[], legend: string[]): string {
  const WIDTH = MARGIN.left + plotW + legendWidth(spec.series.map((s) => s.name));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
      `font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    text(MARGIN.left + plotW / 2, 24, spec.title, `text-anchor="middle" font-size="15" font-weight="bold"`),
    ...body,
    `<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${MARGIN.left + plotW}" y2="${MARGIN.top + plotH}" stroke="black"/>`,
    `<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotH}" stroke="black"/>`,
    text(MARGIN.left + plotW / 2, HEIGHT - 16, spec.xLabel, `text-anchor="middle"`),
    text(
      18,
      MARGIN.top + plotH / 2,
      spec.yLabel,
      `text-anchor="middle" transform="rotate(-90 18 ${MARGIN.top + plotH / 2})"`,
    ),
    ...legend,
    `</svg>`,
  ].join("\n");
}

function legendEntries(names: readonly string[], swatch: "line" | "box"): string[] {
  const x = MARGIN.left + plotW + 16;
  return names.flatMap((name, i) => {
    const y = MARGIN.top + 8 + i * 20;
    const color = PALETTE[i % PALETTE.length];
    const mark =
      swatch === "line"
        ? `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${color}" stroke-width="2.5"/>`
        : `<rect x="${x + 4}" y="${y - 6}" width="14" height="12" fill="${color}"/>`;
    return [mark, text(x + 28, y + 4, name)];
  });
}

/** Horizontal grid lines and labels for y ticks mapped through `toPx`. */
function yAxis(ticks: readonly number[], toPx: (v: number) => number, label: (v: number) => string): string[] {
  return ticks.flatMap((t) => {
    const y = toPx(t);
    return [
      `<line x1="${MARGIN.left}" y1="${y.toFixed(1)}" x2="${MARGIN.left + plotW}" y2="${y.toFixed(1)}" stroke="#e4e4e4"/>`,
      `<line x1="${MARGIN.left - 5}" y1="${y.toFixed(1)}" x2="${MARGIN.left}" y2="${y.toFixed(1)}" stroke="black"/>`,
      text(MARGIN.left - 8, y + 4, label(t), `text-anchor="end"`),
    ];
  });
}

function checkSeriesNames(spec: PlotSpec): void {
  if (!Array.isArray(spec.series) || spec.series.length === 0)
    throw new Error(`renderPlot: "${spec.title}" has no series; expected at least one`);
}

/** An axis in data space: the value transform (identity or log10), the ticks, and how to label them. */
function lineAxis(values: readonly number[], log: boolean | undefined) {
  const t = (v: number) => (log ? Math.log10(v) : v);
  const lo = Math.min(...values.map(t));
  const hi = Math.max(...values.map(t));
  const range = log ? logTicks(lo, hi) : niceTicks(lo, hi);
  const label = (tick: number) => formatTick(log ? 10 ** tick : tick);
  return { t, ...range, label };
}

function renderLine(spec: LinePlot): string {
  checkSeriesNames(spec);
  const points = spec.series.map((s) => {
    if (s.x.length !== s.y.length)
      throw new Error(`renderPlot: series "${s.name}" has ${s.x.length} x values but ${s.y.length} y values`);
    return s.x
      .map((x, i) => [x, s.y[i]!] as const)
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.logX || x > 0) && (!spec.logY || y > 0));
  });
  const all = points.flat();
  if (all.length === 0)
    throw new Error(
      `renderPlot: "${spec.title}" has no finite points${spec.logX || spec.logY ? " (a log axis needs values > 0)" : ""}`,
    );
  const xa = lineAxis(
    all.map((p) => p[0]),
    spec.logX,
  );
  const clampY = spec.yRange
    ? (y: number) => Math.min(Math.max(y, spec.yRange![0]), spec.yRange![1])
    : (y: number) => y;
  const ya = lineAxis(spec.yRange ?? all.map((p) => p[1]), spec.logY);
  const px = (x: number) => MARGIN.left + ((x - xa.lo) / (xa.hi - xa.lo)) * plotW;
  const py = (v: number) => MARGIN.top + plotH - ((v - ya.lo) / (ya.hi - ya.lo)) * plotH;
  const body = [
    ...yAxis(ya.ticks, py, ya.label),
    ...xa.ticks.flatMap((t) => [
      `<line x1="${px(t).toFixed(1)}" y1="${MARGIN.top + plotH}" x2="${px(t).toFixed(1)}" y2="${MARGIN.top + plotH + 5}" stroke="black"/>`,
      text(px(t), MARGIN.top + plotH + 19, xa.label(t), `text-anchor="middle"`),
    ]),
    ...points.map((pts, i) => {
      const color = PALETTE[i % PALETTE.length];
      const at = ([x, y]: readonly [number, number]) => [px(xa.t(x)).toFixed(1), py(ya.t(clampY(y))).toFixed(1)];
      if (pts.length === 1) {
        const [cx, cy] = at(pts[0]!);
        return `<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`;
      }
      const d = pts.map((p, j) => `${j === 0 ? "M" : "L"}${at(p).join(",")}`).join(" ");
      return `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`;
    }),
  ];
  return frame(
    spec,
    body,
    legendEntries(
      spec.series.map((s) => s.name),
      "line",
    ),
  );
}

/**
 * Ticks for a log10 range: powers of ten, plus 2x and 5x them when the range
 * spans few decades (so a short range still gets several labelled ticks).
 */
function logTicks(lo: number, hi: number): { ticks: number[]; lo: number; hi: number } {
  const a = Math.floor(lo);
  const b = Math.max(Math.ceil(hi), a + 1);
  const mantissas = b - a <= 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = a; e <= b; e++) for (const m of mantissas) if (e < b || m === 1) ticks.push(e + Math.log10(m));
  return { ticks, lo: a, hi: b };
}

function renderBar(spec: BarPlot): string {
  checkSeriesNames(spec);
  for (const s of spec.series) {
    if (s.values.length !== spec.categories.length) {
      throw new Error(
        `renderPlot: bar series "${s.name}" has ${s.values.length} values, expected one per category (${spec.categories.length})`,
      );
    }
  }
  const values = spec.series.flatMap((s) => s.values.filter(Number.isFinite));
  if (values.length === 0) throw new Error(`renderPlot: "${spec.title}" has no finite values`);
  const ys = niceTicks(Math.min(0, ...values), Math.max(0, ...values));
  const py = (v: number) => MARGIN.top + plotH - ((v - ys.lo) / (ys.hi - ys.lo)) * plotH;
  const groupW = plotW / spec.categories.length;
  const barW = (groupW * 0.8) / spec.series.length;
  const body = [
    ...yAxis(ys.ticks, py, formatTick),
    ...spec.categories.map((c, i) =>
      text(MARGIN.left + (i + 0.5) * groupW, MARGIN.top + plotH + 19, c, `text-anchor="middle"`),
    ),
    ...spec.series.flatMap((s, j) =>
      s.values.flatMap((v, i) => {
        if (!Number.isFinite(v)) return [];
        const x = MARGIN.left + i * groupW + groupW * 0.1 + j * barW;
        const [top, bottom] = [py(Math.max(v, 0)), py(Math.min(v, 0))];
        return [
          `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${barW.toFixed(1)}" ` +
            `height="${(bottom - top).toFixed(1)}" fill="${PALETTE[j % PALETTE.length]}">` +
            `<title>${escapeXml(`${s.name} / ${spec.categories[i]}: ${formatTick(v)}`)}</title></rect>`,
        ];
      }),
    ),
  ];
  return frame(
    spec,
    body,
    legendEntries(
      spec.series.map((s) => s.name),
      "box",
    ),
  );
}

/**
 * Renders a plot description as a standalone SVG document.
 * @example
 * renderPlot({ kind: "line", title: "loss", xLabel: "step", yLabel: "loss",
 *   series: [{ name: "train", x: [0, 1, 2], y: [1, 0.5, 0.3] }] });
 */
export function renderPlot(spec: PlotSpec): string {
  if (spec === null || typeof spec !== "object")
    throw new TypeError(`renderPlot: expected a plot spec object, got ${spec === null ? "null" : typeof spec}`);
  if (spec.kind === "line") return renderLine(spec);
  if (spec.kind === "bar") return renderBar(spec);
  throw new TypeError(
    `renderPlot: unknown plot kind ${JSON.stringify((spec as { kind?: unknown }).kind)}; expected "line" or "bar"`,
  );
}

import fc from "fast-check";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseArgs } from "../../experiments/cli_args";
import { experimentNames, loadExperiment } from "../../experiments/registry";
import { headline, runExperiment } from "../../experiments/runner";
import { niceTicks, renderPlot, type PlotSpec } from "../../experiments/svg";

const count = (s: string, needle: string) => s.split(needle).length - 1;

describe("svg plotter", () => {
  it("niceTicks covers the range with evenly spaced 1-2-5 steps", () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: 1e-3, max: 1e6, noNaN: true }),
        (lo, width) => {
          const { ticks, lo: a, hi: b } = niceTicks(lo, lo + width);
          expect(a).toBeLessThanOrEqual(lo);
          expect(b).toBeGreaterThanOrEqual(lo + width - 1e-9 * Math.abs(lo + width));
          expect(ticks.length).toBeGreaterThanOrEqual(2);
          expect(ticks.length).toBeLessThanOrEqual(12);
          const step = ticks[1]! - ticks[0]!;
          const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
          expect([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6)).toBe(true);
          ticks.slice(1).forEach((t, i) => expect(t - ticks[i]!).toBeCloseTo(step, 6));
        },
      ),
    );
  });

  it("draws one path per line series, a legend entry per series, and escapes text", () => {
    const spec: PlotSpec = {
      kind: "line",
      title: "a <b> & c",
      xLabel: "x",
      yLabel: "y",
      logY: true,
      series: [
        { name: "one", x: [0, 1, 2], y: [1, 10, 100] },
        { name: "two", x: [0, 1, 2], y: [5, Number.NaN, 0.5] },
      ],
    };
    const svg = renderPlot(spec);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(count(svg, "<path")).toBe(2);
    expect(svg).toContain("a &lt;b&gt; &amp; c");
    expect(svg).toContain(">one<");
    expect(svg).toContain(">two<");
    expect(svg).toContain(">100<"); // a log-scale tick label
  });

  it("draws a bar per (category, series) value", () => {
    const svg = renderPlot({
      kind: "bar",
      title: "t",
      xLabel: "x",
      yLabel: "y",
      categories: ["a", "b", "c"],
      series: [
        { name: "s1", values: [1, 2, 3] },
        { name: "s2", values: [0.5, -1, 0] },
      ],
    });
    expect(count(svg, "<rect x=")).toBe(6 + 2); // 6 bars + 2 legend swatches
  });

  it("rejects malformed specs clearly", () => {
    expect(() =>
      renderPlot({ kind: "line", title: "t", xLabel: "", yLabel: "", series: [{ name: "s", x: [1, 2], y: [1] }] }),
    ).toThrow(/has 2 x values but 1 y values/);
    expect(() =>
      renderPlot({
        kind: "bar",
        title: "t",
        xLabel: "",
        yLabel: "",
        categories: ["a"],
        series: [{ name: "s", values: [1, 2] }],
      }),
    ).toThrow(/expected one per category \(1\)/);
    expect(() => renderPlot({ kind: "line", title: "t", xLabel: "", yLabel: "", series: [] })).toThrow(/has no series/);
    expect(() => renderPlot({ kind: "pie" } as never)).toThrow(/unknown plot kind "pie"/);
  });
});

describe("experiments runner", () => {
  it("parses names, all, --reduced and --out, and rejects bad input", () => {
    expect(parseArgs(["meta_pi", "--reduced"])).toEqual({
      names: ["meta_pi"],
      reduced: true,
      outDir: "out/experiments",
    });
    expect(parseArgs(["all", "--out", "/tmp/x"]).names).toEqual(experimentNames());
    expect(experimentNames()).toHaveLength(7);
    expect(() => parseArgs([])).toThrow(/name an experiment or "all"/);
    expect(() => parseArgs(["nope"])).toThrow(/unknown experiment\(s\): nope/);
    expect(() => parseArgs(["meta_pi", "--fast"])).toThrow(/unknown option --fast/);
    expect(() => parseArgs(["meta_pi", "--out"])).toThrow(/--out needs a directory/);
  });

  it("reports unknown and missing experiment modules clearly", async () => {
    await expect(loadExperiment("nope")).rejects.toThrow(
      /unknown experiment "nope"; expected one of: local_experts, em_vs_gradient/,
    );
    await expect(loadExperiment("ghost", [{ name: "ghost", file: "ghost.ts", title: "" }])).rejects.toThrow(
      /its module experiments\/ghost\.ts does not exist \(check its file name in the registry\)/,
    );
    await expect(loadExperiment("svg", [{ name: "svg", file: "svg.ts", title: "" }])).rejects.toThrow(
      /must export `async function run\(opts\)`/,
    );
  });

  it("runs an experiment and writes its JSON and SVG", async () => {
    const outDir = mkdtempSync(join(tmpdir(), "moeforge-run-"));
    const r = await runExperiment("mixture_of_softmaxes", { size: "reduced", outDir });
    expect(existsSync(r.svgPath)).toBe(true);
    const saved = JSON.parse(readFileSync(r.jsonPath, "utf8"));
    expect(saved.experiment).toBe("mixture_of_softmaxes");
    expect(saved.size).toBe("reduced");
    expect(saved.result.singleSoftmaxExcess).toBe(r.result.singleSoftmaxExcess);
    expect(readFileSync(r.svgPath, "utf8")).toContain("MoS K=4");
    expect(headline(r.result)).toMatch(/^singleSoftmaxExcess: \d/m);
    expect(headline({ a: 1, long: Array(50).fill(0), nested: { b: [1, 2], c: "x" } })).toBe(
      "a: 1\nnested: {b: [1, 2], c: x}",
    );
  });
});

/**
 * Every CUDA bundle lowered from random programs (and from their gradient
 * programs, via vjpProgram) compiles with nvcc for sm_80 and sm_90 with
 * -Werror all-warnings. The bundles of one run are batched into a single
 * translation unit per architecture (nvcc costs seconds per invocation).
 *
 * Cases per run: RANDOM_CASES random programs + LARGE_CASES programs over
 * more than 65535 elements, each with its gradient program (2 bundles per
 * case). Unlike the suite's other property tests (fixed seed, test/setup.ts), this
 * file draws a fresh seed every run (Date.now(), printed, and in failure messages).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../codegen/compile";
import "../../codegen/emit/cuda";
import type { KernelBundle } from "../../codegen/kernel_ir";
import { cudaBundleSource } from "../../backends/cuda/bundle";
import {
  compileCuda,
  HOST_WARNINGS_AS_ERRORS,
  DEFAULT_ARCHS,
  findNvcc,
  formatDiagnostics,
} from "../../backends/cuda/nvcc";
import { trace, spec, ops, vjpProgram, type Program, type Tensor } from "../../index";
import { buildCase, gradientCase, recipeArb, type RandomCase } from "../../testing/random_programs";

const RANDOM_CASES = 30;
const LARGE_CASES = 3;
const NVCC = findNvcc();
if (!NVCC) {
  console.warn(
    "\n" +
      "!".repeat(78) +
      "\n!!! nvcc NOT FOUND: SKIPPING the random-program CUDA compile test (test/codegen/cuda_random.test.ts).\n" +
      "!".repeat(78) +
      "\n",
  );
}

interface Unit {
  readonly prefix: string;
  readonly description: string;
  readonly bundle: KernelBundle;
}

/** One translation unit holding every bundle; a diagnostic's line number finds its bundle. */
function batch(units: readonly Unit[]): { source: string; owner: (line: number) => Unit | undefined } {
  const starts: number[] = [];
  let line = 1;
  const parts = units.map((u) => {
    const cu = cudaBundleSource(u.bundle, { prefix: u.prefix }).cu;
    starts.push(line);
    line += cu.split("\n").length;
    return cu;
  });
  const owner = (l: number) => {
    let i = starts.length - 1;
    while (i > 0 && starts[i]! > l) i--;
    return units[i];
  };
  return { source: parts.join("\n"), owner };
}

/** Fixed programs the random generator does not draw: f16 and named (symbolic) dims. */
function fixedPrograms(): { name: string; program: Program }[] {
  const named = [
    [
      "f16 exp + matmul + softmax",
      trace(
        (x: Tensor, w: Tensor) => ops.softmax(ops.matmul(ops.exp(x), w), -1),
        spec([5, 7], "f16"),
        spec([7, 3], "f16"),
      ),
    ],
    [
      "f16 sum + max + cast",
      trace(
        (x: Tensor) => ops.add(ops.cast(ops.sum(x, 1), "f32"), ops.cast(ops.max(x, 1), "f32")),
        spec([11, 13], "f16"),
      ),
    ],
    [
      "named dims: matmul + bias + gelu [T,16]",
      trace(
        (x: Tensor, w: Tensor, b: Tensor) => ops.gelu(ops.add(ops.matmul(x, w), b)),
        spec(["T", 16]),
        spec([16, "H"]),
        spec(["H"]),
      ),
    ],
    [
      "named dims: take + logsumexp [T,D]",
      trace((x: Tensor, i: Tensor) => ops.logsumexp(ops.take(x, i, 0), -1), spec(["T", "D"]), spec(["K"], "i32")),
    ],
  ] as const;
  return named.flatMap(([name, program]) => [
    { name, program },
    { name: `gradient of ${name}`, program: vjpProgram(program) },
  ]);
}

describe.skipIf(!NVCC)("nvcc: bundles lowered from random programs and their gradients", () => {
  it("f16 programs and programs with named dims (and their gradients) compile for sm_80 and sm_90", async () => {
    const units = fixedPrograms().map(({ name, program }, i) => ({
      prefix: `fixed${i}`,
      description: name,
      bundle: compile(program, { target: "cuda" }),
    }));
    const { source, owner } = batch(units);
    const results = await Promise.all(
      DEFAULT_ARCHS.map((arch) => compileCuda(source, { archs: [arch], extraFlags: HOST_WARNINGS_AS_ERRORS })),
    );
    results.forEach((r, a) => {
      if (!r.ok)
        throw new Error(
          `nvcc ${DEFAULT_ARCHS[a]}:\n${formatDiagnostics(r, source)}\n` +
            [...new Set(r.diagnostics.map((d) => d.line && owner(d.line)?.description))].join("\n"),
        );
    });
    expect(units.some((u) => u.bundle.dims.includes("T"))).toBe(true);
  });

  const seed = Date.now() % 2 ** 31;

  const title =
    `${RANDOM_CASES + LARGE_CASES} random programs + their gradient programs ` +
    `compile for ${DEFAULT_ARCHS.join(" and ")} (seed printed)`;
  it(title, async () => {
    console.log(
      `cuda_random: fast-check seed ${seed}; ${RANDOM_CASES} random + ${LARGE_CASES} large programs, each with its gradient`,
    );
    const recipes = [
      ...fc.sample(recipeArb(), { numRuns: RANDOM_CASES, seed }).map((r) => buildCase(r)),
      ...fc
        .sample(recipeArb({ large: true, maxSteps: 3 }), { numRuns: LARGE_CASES, seed: seed + 1 })
        .map((r) => buildCase(r, { large: true })),
    ];
    const units: Unit[] = recipes.flatMap((c: RandomCase, i) => {
      const grad = gradientCase(c);
      return [
        { prefix: `p${i}`, description: c.description, bundle: compile(c.program, { target: "cuda" }) },
        { prefix: `g${i}`, description: grad.description, bundle: compile(grad.program, { target: "cuda" }) },
      ];
    });
    const kernels = units.reduce((n, u) => n + u.bundle.kernels.length, 0);
    const { source, owner } = batch(units);
    const results = await Promise.all(
      DEFAULT_ARCHS.map((arch) => compileCuda(source, { archs: [arch], extraFlags: HOST_WARNINGS_AS_ERRORS })),
    );
    results.forEach((r, a) => {
      if (r.ok) return;
      const culprits = [
        ...new Set(r.diagnostics.map((d) => (d.line ? owner(d.line) : undefined)).filter((u): u is Unit => !!u)),
      ];
      const programs = culprits.map((u) => `--- bundle ${u.prefix}:\n${u.description}`).join("\n");
      throw new Error(
        `seed ${seed}: nvcc ${DEFAULT_ARCHS[a]} rejects generated CUDA:\n${formatDiagnostics(r, source)}\n${programs}`,
      );
    });
    console.log(
      `cuda_random: ${units.length} bundles, ${kernels} kernels compiled cleanly for ${DEFAULT_ARCHS.join(", ")}`,
    );
    expect(kernels).toBeGreaterThan(units.length);
  });
});

describe("compile-time errors for the cuda target", () => {
  it("rejects f64 programs naming the op", () => {
    const p = trace((x) => ops.exp(x), spec([3], "f64"));
    expect(() => compile(p, { target: "cuda" })).toThrow(/cuda.*f64/);
  });
});

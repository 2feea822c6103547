/**
 * The CUDA side of the export: for every example (T dynamic, --grad), and a
 * model whose T must be a multiple of 4 (the launcher checks it and derives
 * the bundles' T_div4), the generated `<name>.cu` (which includes
 * kernels/forward.cu and kernels/backward.cu) compiles with nvcc for sm_80 and
 * sm_90 (one invocation, both architectures in the binary) with every warning
 * an error (device `-Werror all-warnings`, host `-Wall -Werror`), and links
 * with the example driver. Where an NVIDIA GPU is present the driver
 * runs, and its checksums of the outputs and gradients (cotangents of ones)
 * match the interpreter on the same inputs.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { nvidiaGpus } from "../../backends/cuda/device";
import { DEFAULT_ARCHS, findNvcc } from "../../backends/cuda/nvcc";
import { EXAMPLES, compileExample, sharedExport, tokenEnv, traceExample, type ExampleModel } from "./examples";
import { evalDim, type Dim } from "../../dsl/dims";
import { interpreterForwardBackward } from "./oracle";

const NVCC = findNvcc();
if (!NVCC) console.warn("\n*** SKIPPING the CUDA export tests: nvcc is not installed\n");
const HAS_GPU = NVCC ? nvidiaGpus().length > 0 : false;

function nvcc(args: readonly string[], cwd: string): Promise<{ code: number; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NVCC!, args, { cwd });
    let log = "";
    child.stdout.on("data", (d: Buffer) => (log += d.toString()));
    child.stderr.on("data", (d: Buffer) => (log += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, log }));
  });
}

const WARNINGS = ["-std=c++17", "-Werror", "all-warnings", "-Xcompiler", "-Wall,-Werror"];

/** The driver's inputs (see `fill` in <name>_example.cpp): the same integer hash, in JS. */
function driverInput(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    const v = (Math.imul(i, 2654435761 | 0) + Math.imul(seed, 40503)) >>> 0;
    return ((v % 2001) - 1000) / 2000;
  });
}

async function interpreterChecksums(m: ExampleModel, T: number): Promise<Map<string, number>> {
  const traced = await traceExample(m);
  const env = tokenEnv(m, T);
  const concrete = (s: readonly Dim[]) => s.map((d) => evalDim(d, env));
  const inputs = traced.inputs.leaves.map((l, i) => {
    const shape = concrete(l.shape);
    return {
      shape,
      data: driverInput(
        shape.reduce((a, b) => a * b, 1),
        i + 1,
      ),
    };
  });
  const cts = traced.outputs.map((o) => {
    const shape = concrete(o.shape);
    return { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1) };
  });
  const want = interpreterForwardBackward(traced.program, inputs, cts);
  const sum = (a: Float32Array) => a.reduce((s, x) => s + x, 0);
  return new Map([
    ...traced.outputs.map((o, i) => [`output ${o.path}`, sum(want.outputs[i]!)] as const),
    ...traced.inputs.leaves.map((l, i) => [`gradient ${l.path}`, sum(want.gradients[i]!)] as const),
  ]);
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const GROUPED: ExampleModel = {
  file: "test/cli/fixtures/token_groups.ts",
  export: "grouped",
  dims: "T=dynamic:%4,D=8,O=4",
};

describe.skipIf(!NVCC)("exported CUDA launchers", () => {
  it.each([...EXAMPLES, GROUPED].map((m) => [m.export, m] as const))(
    "%s.cu compiles for sm_80 and sm_90 with -Werror (host -Wall -Werror) and the example driver links",
    async (_, m) => {
      const shared = m === GROUPED ? undefined : await sharedExport(m);
      const out = shared ?? (await compileExample(m, "cuda"));
      if (!shared) dirs.push(out);
      const name = m.export;
      // The executable goes outside the (shared, read-only) export.
      const exe = join(mkdtempSync(join(tmpdir(), "moeforge-cuda-")), name);
      dirs.push(dirname(exe));
      // Both architectures in one binary: the host code compiles once.
      const gencode = DEFAULT_ARCHS.flatMap((a) => ["-gencode", `arch=compute_${a.slice(3)},code=${a}`]);
      const r = await nvcc([...gencode, ...WARNINGS, `${name}.cu`, `${name}_example.cpp`, "-o", exe], out);
      expect(r.log, `nvcc ${DEFAULT_ARCHS.join(", ")}`).toBe("");
      expect(r.code).toBe(0);
      if (!HAS_GPU) return;
      const T = m === GROUPED ? 8 : 7;
      const run = spawnSync(exe, [String(T)], { encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);
      const got = new Map(
        [...run.stdout.matchAll(/^(output|gradient) (\S+): checksum (\S+)$/gm)].map((x) => [
          `${x[1]} ${x[2]}`,
          Number(x[3]),
        ]),
      );
      const want = await interpreterChecksums(m, T);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [k, w] of want) expect(Math.abs(got.get(k)! - w), k).toBeLessThanOrEqual(1e-3 * (1 + Math.abs(w)));
    },
    600_000,
  );
});

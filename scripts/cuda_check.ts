/**
 * `npm run cuda:check`: on a machine with an NVIDIA GPU, compiles a set of
 * programs (hand-written ones, the MoE layer at a small size, seeded random
 * programs, and the gradient program of each) to CUDA bundles, builds them with
 * nvcc, runs them on random inputs and compares every output with the
 * interpreter (floats: relative 2-norm error <= rtol, default 1e-4; integers
 * and bools: exactly). Prints one table row per program.
 *
 * Exit codes: 0 when everything matches, or when there is no GPU ("no GPU:
 * skipped"); 1 when a program mismatches or fails to build/run; 2 when a GPU
 * is present but nvcc is missing.
 *
 * Options: --random N (random programs, default 24), --repeats N (timed
 * forwards per program, default 10), --rtol X, --build-only (compile every
 * runner, run nothing: works without a GPU), --bench (also the benchmark
 * sizes: the MoE layer at T=1024 D=256 H=512 E=8 k=2 and a 1024³ matmul,
 * reported with GFLOP/s), --archs sm_80,sm_90 (default:
 * native, or sm_80 with --build-only), --tensor-cores (every GEMM under the TF32 tensor-core schedule,
 * `tensorCoreMatmul`, for the GPU's compute capability or sm_80 with --build-only; default rtol 5e-3, as TF32
 * inputs keep 10 mantissa bits; `npm run cuda:tc` also times it against the FMA path and cuBLAS).
 *
 * Usage on a GPU machine: `npm ci && npm run cuda:check`.
 */
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { compile, type CompileOptions } from "../codegen/compile";
import { cudaDeviceProfile } from "../codegen/device";
import { RTOL, schedules } from "./cuda_tc_plan";
import type { KernelBundle } from "../codegen/kernel_ir";
import { isFloat } from "../dsl/dtype";
import { numel } from "../dsl/shape";
import { evalProgram, bindDims } from "../dsl/trace";
import { moe, ops, random, trace, tree, type Program, type Tensor } from "../index";
import {
  buildCase,
  gradientCase,
  mulberry32,
  randomFloats,
  randomIndices,
  recipeArb,
  relativeError,
  type RandomCase,
} from "../testing/random_programs";
import fc from "fast-check";
import { cudaMachineProfile, nvidiaGpus } from "../backends/cuda/device";
import { findNvcc } from "../backends/cuda/nvcc";
import { buildCudaRunnersAsync, runCudaRunner, type CudaRunner } from "../backends/cuda/runner";

interface Options {
  randomPrograms: number;
  repeats: number;
  rtol: number;
  buildOnly: boolean;
  bench: boolean;
  tensorCores: boolean;
  archs?: string[];
}

const USAGE =
  "known options: --random N, --repeats N, --rtol X, --build-only, --bench, --tensor-cores, --archs sm_80,sm_90";

function parseOptions(argv: readonly string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        random: { type: "string" },
        repeats: { type: "string" },
        rtol: { type: "string" },
        "build-only": { type: "boolean" },
        archs: { type: "string" },
        bench: { type: "boolean" },
        "tensor-cores": { type: "boolean" },
      },
    }));
  } catch (e) {
    throw new Error(`cuda:check: ${(e as Error).message} (${USAGE})`, { cause: e });
  }
  const num = (v: string | undefined, name: string, fallback: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`cuda:check: --${name} ${v} is not a number`);
    return n;
  };
  return {
    randomPrograms: num(values.random, "random", 24),
    repeats: num(values.repeats, "repeats", 10),
    rtol: num(values.rtol, "rtol", values["tensor-cores"] ? RTOL.tf32 : RTOL.fma),
    buildOnly: values["build-only"] ?? false,
    bench: values.bench ?? false,
    tensorCores: values["tensor-cores"] ?? false,
    ...(values.archs !== undefined ? { archs: values.archs.split(",") } : {}),
  };
}

/** A named program with concrete inputs. */
interface CheckCase {
  readonly name: string;
  readonly program: Program;
  readonly inputs: readonly Tensor[];
}

function floats(rng: () => number, shape: number[]): Tensor {
  return randomFloats(rng, "f32", shape);
}

/** Programs that cover each kernel family, at sizes with primes, ones and > 65535 elements. */
function handCases(): CheckCase[] {
  const rng = mulberry32(2024);
  const cases: CheckCase[] = [];
  const add = (name: string, fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: Tensor[]) =>
    cases.push({ name, program: trace(fn as (...a: never[]) => unknown, ...inputs), inputs });

  add("elementwise chain [70001]", (x) => ops.tanh(ops.add(ops.mul(ops.exp(x), 0.5), ops.sin(x))), [
    floats(rng, [70001]),
  ]);
  add("broadcast + where [37,1] x [1,41]", (a, b) => ops.where(ops.greater(a, b), ops.mul(a, b), ops.sub(a, b)), [
    floats(rng, [37, 1]),
    floats(rng, [1, 41]),
  ]);
  add("softmax [333,257]", (x) => ops.softmax(x, -1), [floats(rng, [333, 257])]);
  add("matmul + bias + gelu [129,65]@[65,97]", (x, w, b) => ops.gelu(ops.add(ops.matmul(x, w), b)), [
    floats(rng, [129, 65]),
    floats(rng, [65, 97]),
    floats(rng, [97]),
  ]);
  add("batched matmul [3,17,31]@[3,31,13]", (a, b) => ops.matmul(a, b), [
    floats(rng, [3, 17, 31]),
    floats(rng, [3, 31, 13]),
  ]);
  add("sum/max/argmax over axes [7,11,13]", (x) => [ops.sum(x, [0, 2]), ops.max(x, 1), ops.argmax(x, 2)], [
    floats(rng, [7, 11, 13]),
  ]);
  add("logsumexp [1,1031]", (x) => ops.logsumexp(x, -1), [floats(rng, [1, 1031])]);
  add("take + scatterAdd (repeated indices)", (x, i, u) => [ops.take(x, i, 0), ops.scatterAdd(x, i, u, 0)], [
    floats(rng, [23, 5]),
    randomIndices(rng, [41], 23),
    floats(rng, [41, 5]),
  ]);
  add("cumsum [5,263]", (x) => [ops.cumsum(x, -1), ops.cumsum(x, 0, true)], [floats(rng, [5, 263])]);
  add("topK k=3 [29,19]", (x) => ops.topK(x, 3), [floats(rng, [29, 19])]);
  add("sort / argsort [13,37]", (x) => [ops.sort(x, -1), ops.argsort(x, -1, true)], [floats(rng, [13, 37])]);
  add("random uniform / normal (key input)", (k) => [random.uniform(k, [1001]), random.normal(k, [7, 11])], [
    random.key(42),
  ]);
  return cases;
}

/** The benchmark MoE layer (top-2 gate, FFN experts); by default at a small size: T=64, D=32, H=64, E=4. */
function moeCase(T = 64, D = 32, H = 64, E = 4): CheckCase {
  const layer = moe.moeLayer({ numExperts: E, gate: { type: "topK", k: 2 }, experts: moe.ffnExperts });
  const params = layer.init(random.key(7), { dModel: D, hidden: H });
  const x = floats(mulberry32(99), [T, D]);
  const program = trace((p: typeof params, xs: Tensor) => layer.apply(p, xs).y, params, x);
  // trace flattens its arguments in tree order: the same leaves, in the same order.
  return { name: `MoE layer T=${T} D=${D} H=${H} E=${E} k=2`, program, inputs: tree.leaves([params, x]) };
}

/** `--bench`: the benchmark sizes of `npm run bench` (MoE layer T=1024 D=256 H=512 E=8 k=2, matmul 1024³). */
function benchCases(): CheckCase[] {
  const rng = mulberry32(5);
  const layer = moeCase(1024, 256, 512, 8);
  const mm = trace((a: Tensor, b: Tensor) => ops.matmul(a, b), floats(rng, [1024, 1024]), floats(rng, [1024, 1024]));
  return [
    { ...layer, name: `bench: ${layer.name}` },
    { name: "bench: matmul 1024^3", program: mm, inputs: [floats(rng, [1024, 1024]), floats(rng, [1024, 1024])] },
  ];
}

function randomCases(n: number): CheckCase[] {
  const recipes = fc.sample(recipeArb({ maxSteps: 6 }), { numRuns: n, seed: 31337 });
  const large = fc.sample(recipeArb({ maxSteps: 3, large: true }), {
    numRuns: Math.max(1, Math.floor(n / 8)),
    seed: 4242,
  });
  return [
    ...recipes.map((r, i) => ({ name: `random program #${i}`, ...buildCase(r) })),
    ...large.map((r, i) => ({ name: `random program, large #${i}`, ...buildCase(r, { large: true }) })),
  ];
}

/** Each case, plus its reverse-mode gradient program when it has float inputs and outputs. */
function withGradients(cases: readonly CheckCase[]): CheckCase[] {
  return cases.flatMap((c) => {
    const differentiable =
      c.program.inputs.some((v) => isFloat(v.dtype)) && c.program.outputs.some((v) => isFloat(v.dtype));
    if (!differentiable) return [c];
    const g: RandomCase = gradientCase({ program: c.program, inputs: c.inputs, description: c.name });
    return [c, { name: `grad of ${c.name}`, program: g.program, inputs: g.inputs }];
  });
}

type Built = { bundle: KernelBundle; runner: CudaRunner } | { error: string };

/**
 * Compiles every case and builds the runners: a few bundles per executable
 * (one nvcc invocation per group, the groups in parallel). A group that fails
 * to build is rebuilt one bundle at a time, so the error lands on its program.
 */
async function buildAll(
  cases: readonly CheckCase[],
  archs: readonly string[],
  options: CompileOptions,
): Promise<Built[]> {
  const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
  const out: Built[] = cases.map(() => ({ error: "not built" }));
  const bundles = new Map<number, KernelBundle>();
  cases.forEach((c, i) => {
    try {
      bundles.set(i, compile(c.program, options));
    } catch (e) {
      out[i] = { error: `compile: ${message(e)}` };
    }
  });
  const ids = [...bundles.keys()];
  const groupCount = Math.max(1, Math.min(cpus().length, Math.ceil(ids.length / 6)));
  const groups = Array.from({ length: groupCount }, (_, g) => ids.filter((_, j) => j % groupCount === g)).filter(
    (g) => g.length > 0,
  );
  await mapLimit(groups, groupCount, async (group) => {
    try {
      const runners = await buildCudaRunnersAsync(
        group.map((i) => bundles.get(i)!),
        { archs },
      );
      group.forEach((i, j) => (out[i] = { bundle: bundles.get(i)!, runner: runners[j]! }));
    } catch {
      for (const i of group) {
        try {
          out[i] = { bundle: bundles.get(i)!, runner: (await buildCudaRunnersAsync([bundles.get(i)!], { archs }))[0]! };
        } catch (e) {
          out[i] = { error: message(e) };
        }
      }
    }
  });
  return out;
}

interface Row {
  name: string;
  kernels: string;
  launches: string;
  error: string;
  ms: string;
  status: "ok" | "MISMATCH" | "FAILED" | "built";
  detail?: string;
}

/** Runs up to `limit` async jobs at a time. */
async function mapLimit<T, R>(xs: readonly T[], limit: number, f: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await f(xs[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, worker));
  return out;
}

function compare(
  c: CheckCase,
  runner: CudaRunner,
  rtol: number,
  repeats: number,
): Omit<Row, "name" | "kernels" | "launches"> {
  const want = evalProgram(c.program, c.inputs);
  const dims = bindDims(c.program, c.inputs, c.name);
  const { outputs, forwardMs } = runCudaRunner(
    runner,
    dims,
    c.inputs.map((t) => t.dataSync()),
    { repeats },
  );
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!.dataSync();
    const g = outputs[i]!;
    if (isFloat(want[i]!.dtype)) worst = Math.max(worst, relativeError(g, w));
    else {
      const bad = w.findIndex((x, j) => x !== g[j]);
      if (bad >= 0)
        return {
          error: "exact",
          ms: fmtMs(forwardMs),
          status: "MISMATCH",
          detail: `output ${i} (${want[i]!.dtype}) differs at index ${bad}: got ${g[bad]}, expected ${w[bad]}`,
        };
    }
  }
  return {
    error: worst.toExponential(2),
    ms: fmtMs(forwardMs),
    status: worst <= rtol ? "ok" : "MISMATCH",
    ...(worst <= rtol ? {} : { detail: `relative error ${worst.toExponential(3)} > rtol ${rtol}` }),
  };
}

function fmtMs(ms: number | undefined): string {
  return ms === undefined ? "-" : ms.toFixed(3);
}

function printTable(rows: readonly Row[]): void {
  const head = {
    name: "program",
    kernels: "kernels",
    launches: "launches",
    error: "max rel err",
    ms: "GPU ms",
    status: "status",
  };
  const cols = ["name", "kernels", "launches", "error", "ms", "status"] as const;
  const width = Object.fromEntries(cols.map((k) => [k, Math.max(head[k].length, ...rows.map((r) => r[k].length))]));
  const line = (r: Record<(typeof cols)[number], string>) => cols.map((k) => r[k].padEnd(width[k]!)).join("  ");
  console.log(line(head));
  console.log(cols.map((k) => "-".repeat(width[k]!)).join("  "));
  for (const r of rows) {
    console.log(line(r));
    if (r.detail) console.log(`    ${r.detail.split("\n").join("\n    ")}`);
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const gpus = nvidiaGpus();
  if (gpus.length === 0 && !opts.buildOnly) {
    console.log(
      "cuda:check: no GPU: skipped (no NVIDIA GPU found: nvidia-smi lists none and there is no /dev/nvidia0).",
    );
    console.log(
      "cuda:check: run it on a machine with an NVIDIA GPU (`npm ci && npm run cuda:check`), or use --build-only to compile every bundle here.",
    );
    return 0;
  }
  if (!findNvcc()) {
    console.error(
      "cuda:check: nvcc (the CUDA compiler) was not found; install the CUDA toolkit or set NVCC=/path/to/nvcc.",
    );
    return 2;
  }
  const archs = opts.archs ?? (opts.buildOnly ? ["sm_80"] : ["native"]);
  console.log(
    `cuda:check: ${gpus.length ? gpus.join("; ") : "no GPU (build only)"}; nvcc ${findNvcc()}; archs ${archs.join(",")}; ` +
      `rtol ${opts.rtol}${opts.tensorCores ? "; TF32 tensor-core GEMMs" : ""}`,
  );

  const cases = withGradients([
    ...handCases(),
    moeCase(),
    ...(opts.bench ? benchCases() : []),
    ...randomCases(opts.randomPrograms),
  ]);
  console.log(`cuda:check: ${cases.length} programs (forward and gradient); building with nvcc...`);
  const started = Date.now();
  const device = opts.buildOnly ? cudaDeviceProfile(8, 0) : cudaMachineProfile();
  if (opts.tensorCores && (device?.computeCapability ?? 0) < 80) {
    console.error(
      `cuda:check: --tensor-cores needs an sm_80+ GPU (this one: ${device?.computeCapability ?? "unknown"})`,
    );
    return 1;
  }
  const built = await buildAll(cases, archs, opts.tensorCores ? schedules(device)["tf32"] : { target: "cuda" });
  console.log(`cuda:check: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const rows: Row[] = cases.map((c, i) => {
    const b = built[i]!;
    const base = { name: c.name, kernels: "-", launches: "-" };
    if ("error" in b) return { ...base, error: "-", ms: "-", status: "FAILED", detail: b.error } as Row;
    const counts = { kernels: String(b.bundle.kernels.length), launches: String(b.bundle.schedule.length) };
    if (opts.buildOnly) return { ...base, ...counts, error: "-", ms: "-", status: "built" } as Row;
    try {
      return { ...base, ...counts, ...compare(c, b.runner, opts.rtol, opts.repeats) };
    } catch (e) {
      return {
        ...base,
        ...counts,
        error: "-",
        ms: "-",
        status: "FAILED",
        detail: e instanceof Error ? e.message : String(e),
      } as Row;
    }
  });
  printTable(rows);
  const matmul = rows.find((r) => r.name === "bench: matmul 1024^3");
  if (matmul && matmul.ms !== "-")
    console.log(`cuda:check: matmul 1024^3: ${((2 * 1024 ** 3) / (Number(matmul.ms) * 1e6)).toFixed(1)} GFLOP/s`);
  const bad = rows.filter((r) => r.status === "MISMATCH" || r.status === "FAILED");
  const elements = cases.reduce((n, c) => n + c.inputs.reduce((m, t) => m + numel(t.shape as number[]), 0), 0);
  console.log(
    `cuda:check: ${rows.length - bad.length}/${rows.length} ${opts.buildOnly ? "built" : "match the interpreter"} ` +
      `(${elements} input elements in all)${bad.length ? `; ${bad.length} failed` : ""}`,
  );
  return bad.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`cuda:check: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);

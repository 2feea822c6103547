/**
 * Running CUDA bundles from Node without native addons: bundles are compiled
 * together with a small `main()` into an executable that, for the bundle
 * chosen on its command line, reads dims and inputs from a binary file, runs
 * the forward schedule through the C API, and writes the outputs to another
 * file. Executables are cached by the hash of their source.
 *
 * File formats (little-endian): in = i64 numDims, i64 dims[numDims], then per
 * input i64 byteCount + bytes; out = per output i64 byteCount + bytes. The
 * runner prints `forward_ms <mean>` over `repeats` timed forwards.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { evalSize, type KernelBundle, type ScalarType } from "../../codegen/kernel_ir";
import type { AnyTypedArray } from "../../dsl/dtype";
import { cudaBundleSource } from "./bundle";
import { fromHalfBits, toHalfBits } from "../../dsl/half";
import { compileCuda, compileCudaSync, formatDiagnostics, type NvccResult } from "./nvcc";

/**
 * `static int mf_run_P(in, out, repeats)`: runs the bundle with C prefix `P`
 * from an input file to an output file; 0 on success, 1 for a CUDA/API
 * failure (message on stderr), 2 for a bad file.
 */
function runnerFunction(P: string): string {
  return `
static int mf_run_${P}(const char* in_path, const char* out_path, int repeats) {
  FILE* in = fopen(in_path, "rb");
  if (!in) { fprintf(stderr, "cannot open %s\\n", in_path); return 2; }
  int64_t num_dims = 0;
  if (!mf_read(in, &num_dims, 8) || num_dims < 0 || num_dims > 64) { fprintf(stderr, "bad input file header\\n"); return 2; }
  std::vector<int64_t> dims((size_t)num_dims + 1);
  if (!mf_read(in, dims.data(), 8 * (size_t)num_dims)) { fprintf(stderr, "bad input file dims\\n"); return 2; }
  // Read the whole file before touching the GPU, so a bad file is reported as such.
  std::vector<std::vector<unsigned char>> inputs(${P}_NUM_INPUTS);
  for (int i = 0; i < ${P}_NUM_INPUTS; i++) {
    int64_t bytes = 0;
    if (!mf_read(in, &bytes, 8) || bytes < 0) { fprintf(stderr, "bad input file: input %d\\n", i); return 2; }
    inputs[i].resize((size_t)bytes + 1);
    if (!mf_read(in, inputs[i].data(), (size_t)bytes)) { fprintf(stderr, "bad input file: input %d is truncated\\n", i); return 2; }
    inputs[i].resize((size_t)bytes);
  }
  fclose(in);
  ${P}_ctx* ctx = 0;
  if (${P}_create(dims.data(), (int)num_dims, &ctx) != ${P}_OK) { fprintf(stderr, "%s\\n", ${P}_last_error()); return 1; }
  for (int i = 0; i < ${P}_NUM_INPUTS; i++) {
    if (${P}_upload(ctx, i, inputs[i].data(), inputs[i].size()) != ${P}_OK) { fprintf(stderr, "%s\\n", ${P}_last_error()); return 1; }
  }
  if (${P}_forward(ctx) != ${P}_OK) { fprintf(stderr, "%s\\n", ${P}_last_error()); return 1; }
  if (repeats > 0) {
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeats; r++) {
      if (${P}_forward(ctx) != ${P}_OK) { fprintf(stderr, "%s\\n", ${P}_last_error()); return 1; }
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    printf("forward_ms %.6f\\n", ms / repeats);
  }
  FILE* out = fopen(out_path, "wb");
  if (!out) { fprintf(stderr, "cannot open %s\\n", out_path); return 2; }
  for (int i = 0; i < ${P}_NUM_OUTPUTS; i++) {
    const int64_t bytes = (int64_t)${P}_output_bytes(ctx, i);
    std::vector<unsigned char> data((size_t)bytes + 1);
    if (${P}_download(ctx, i, data.data(), (size_t)bytes) != ${P}_OK) { fprintf(stderr, "%s\\n", ${P}_last_error()); return 1; }
    fwrite(&bytes, 8, 1, out);
    fwrite(data.data(), 1, (size_t)bytes, out);
  }
  fclose(out);
  ${P}_destroy(ctx);
  return 0;
}
`;
}

/**
 * The `main()` of a runner executable for the bundles with C prefixes
 * `prefixes` (chosen by index on the command line), with a run function per bundle.
 *
 * @example
 * const cu = cudaBundleSource(bundle, { prefix: "p" }).cu + cudaRunnerMain(["p"]);
 * // ./runner 0 in.bin out.bin 10
 */
export function cudaRunnerMain(prefixes: readonly string[]): string {
  return `
// ---- runner: <exe> <bundle index> in.bin out.bin [repeats] ----
#include <chrono>
#include <vector>

static bool mf_read(FILE* f, void* dst, size_t n) { return n == 0 || fread(dst, 1, n, f) == n; }
${prefixes.map(runnerFunction).join("")}
int main(int argc, char** argv) {
  if (argc < 4) { fprintf(stderr, "usage: %s <bundle 0..${prefixes.length - 1}> in.bin out.bin [repeats]\\n", argv[0]); return 2; }
  const int repeats = argc > 4 ? atoi(argv[4]) : 0;
  switch (atoi(argv[1])) {
${prefixes.map((P, i) => `    case ${i}: return mf_run_${P}(argv[2], argv[3], repeats);`).join("\n")}
    default: fprintf(stderr, "no bundle %s\\n", argv[1]); return 2;
  }
}
`;
}

/** One bundle inside a compiled runner executable. */
export interface CudaRunner {
  readonly executable: string;
  /** The bundle's index on the executable's command line. */
  readonly index: number;
  readonly bundle: KernelBundle;
}

export interface BuildRunnerOptions {
  /** nvcc architectures; default "native" (the GPU of this machine). */
  readonly archs?: readonly string[];
  /** Where executables are cached (default: $TMPDIR/moeforge-cuda-runners). */
  readonly cacheDir?: string;
}

/** The runner's source and where its executable is cached. */
function runnerPlan(
  bundles: readonly KernelBundle[],
  options: BuildRunnerOptions,
): { source: string; archs: readonly string[]; executable: string } {
  const prefixes = bundles.map((_, i) => `mfrun${i}`);
  const source =
    bundles.map((b, i) => cudaBundleSource(b, { prefix: prefixes[i] }).cu).join("\n") + cudaRunnerMain(prefixes);
  const archs = options.archs ?? ["native"];
  const dir = options.cacheDir ?? join(tmpdir(), "moeforge-cuda-runners");
  mkdirSync(dir, { recursive: true });
  const hash = createHash("sha256").update(archs.join(",")).update(source).digest("hex").slice(0, 24);
  return { source, archs, executable: join(dir, `runner-${hash}`) };
}

function finishBuild(plan: ReturnType<typeof runnerPlan>, partial: string, r: NvccResult): void {
  if (!r.ok) throw new Error(`nvcc could not build the CUDA runner:\n${formatDiagnostics(r, plan.source)}`);
  renameSync(partial, plan.executable); // atomic: concurrent builders never see a half-written file
}

const runnersOf = (bundles: readonly KernelBundle[], executable: string): CudaRunner[] =>
  bundles.map((bundle, index) => ({ executable, index, bundle }));

/**
 * Compiles `bundles` and a runner main into one executable (or reuses the
 * cached one) and returns a runner per bundle. One nvcc invocation for many
 * bundles is much faster than one each. Throws with nvcc's diagnostics when
 * compilation fails.
 *
 * @example
 * const [runner] = buildCudaRunners([compile(program, { target: "cuda" })]);
 * const { outputs } = runCudaRunner(runner, new Map([["T", 8]]), [x.dataSync()]);
 */
export function buildCudaRunners(bundles: readonly KernelBundle[], options: BuildRunnerOptions = {}): CudaRunner[] {
  const plan = runnerPlan(bundles, options);
  if (!existsSync(plan.executable)) {
    const partial = `${plan.executable}.${process.pid}.tmp`;
    finishBuild(
      plan,
      partial,
      compileCudaSync(plan.source, { archs: plan.archs, mode: "executable", output: partial, extraFlags: ["-O3"] }),
    );
  }
  return runnersOf(bundles, plan.executable);
}

/** `buildCudaRunners` without blocking, so several executables can compile in parallel. */
export async function buildCudaRunnersAsync(
  bundles: readonly KernelBundle[],
  options: BuildRunnerOptions = {},
): Promise<CudaRunner[]> {
  const plan = runnerPlan(bundles, options);
  if (!existsSync(plan.executable)) {
    const partial = `${plan.executable}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    finishBuild(
      plan,
      partial,
      await compileCuda(plan.source, { archs: plan.archs, mode: "executable", output: partial, extraFlags: ["-O3"] }),
    );
  }
  return runnersOf(bundles, plan.executable);
}

/** Device bytes of host values (f16 becomes `__half` bits, bool one byte per element). */
export function encodeForDevice(type: ScalarType, data: AnyTypedArray): Uint8Array {
  switch (type) {
    case "f32":
      return new Uint8Array(Float32Array.from(data).buffer);
    case "i32":
    case "u32":
      return new Uint8Array(Int32Array.from(data).buffer);
    case "f16":
      return new Uint8Array(Uint16Array.from(data, toHalfBits).buffer);
    case "bool":
      return Uint8Array.from(data, (x) => (x ? 1 : 0));
    case "f64":
      throw new TypeError("the CUDA target has no f64 buffers");
  }
}

/** Host values of device bytes: f32/f16 as Float32Array, i32 as Int32Array, u32 as Uint32Array, bool as Uint8Array. */
export function decodeFromDevice(type: ScalarType, bytes: Uint8Array): AnyTypedArray | Uint32Array {
  // A copy into a fresh ArrayBuffer: `bytes` may be a Node Buffer view into a
  // larger (pooled) allocation, whose `.slice()` does not copy.
  const copy = new Uint8Array(bytes).buffer;
  switch (type) {
    case "f32":
      return new Float32Array(copy);
    case "i32":
      return new Int32Array(copy);
    case "u32":
      return new Uint32Array(copy);
    case "f16":
      return Float32Array.from(new Uint16Array(copy), fromHalfBits);
    case "bool":
      return new Uint8Array(copy);
    case "f64":
      throw new TypeError("the CUDA target has no f64 buffers");
  }
}

/**
 * Runs a runner on host inputs (one typed array per bundle input, in order).
 * `repeats` > 0 also times that many forwards and reports the mean.
 */
export function runCudaRunner(
  runner: CudaRunner,
  dims: ReadonlyMap<string, number>,
  inputs: readonly AnyTypedArray[],
  options: { readonly repeats?: number } = {},
): { outputs: (AnyTypedArray | Uint32Array)[]; forwardMs?: number } {
  const { bundle } = runner;
  if (inputs.length !== bundle.inputs.length)
    throw new Error(`CUDA runner: got ${inputs.length} inputs, the bundle takes ${bundle.inputs.length}`);
  const buffers = new Map(bundle.buffers.map((b) => [b.name, b]));
  const parts: Uint8Array[] = [
    i64(bundle.dims.length),
    ...bundle.dims.map((d) => {
      const n = dims.get(d);
      if (n === undefined) throw new Error(`CUDA runner: dim "${d}" is not bound`);
      return i64(n);
    }),
  ];
  bundle.inputs.forEach((name, i) => {
    const b = buffers.get(name)!;
    const expected = evalSize(b.size, dims);
    if (inputs[i]!.length !== expected)
      throw new Error(`CUDA runner: input ${i} (${name}) has ${inputs[i]!.length} elements, expected ${expected}`);
    const bytes = encodeForDevice(b.type, inputs[i]!);
    parts.push(i64(bytes.length), bytes);
  });
  const dir = mkdtempSync(join(tmpdir(), "moeforge-cuda-run-"));
  try {
    writeFileSync(join(dir, "in.bin"), Buffer.concat(parts));
    const args = [
      String(runner.index),
      join(dir, "in.bin"),
      join(dir, "out.bin"),
      ...(options.repeats ? [String(options.repeats)] : []),
    ];
    const r = spawnSync(runner.executable, args, { encoding: "utf8" });
    if (r.error) throw new Error(`CUDA runner could not start: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`CUDA runner failed (exit ${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
    const out = readFileSync(join(dir, "out.bin"));
    const outputs: (AnyTypedArray | Uint32Array)[] = [];
    let at = 0;
    for (const name of bundle.outputs) {
      const n = Number(out.readBigInt64LE(at));
      outputs.push(decodeFromDevice(buffers.get(name)!.type, out.subarray(at + 8, at + 8 + n)));
      at += 8 + n;
    }
    const ms = /forward_ms ([\d.]+)/.exec(r.stdout);
    return { outputs, forwardMs: ms ? Number(ms[1]) : undefined };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function i64(n: number): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
}

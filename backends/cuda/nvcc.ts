/**
 * Finding and running `nvcc`. Generated CUDA is compiled with
 * `-Werror all-warnings` so that any warning (an unused variable, a narrowing
 * the front end flags) fails the build: emitted source must be clean.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The architectures generated code is checked against: Ampere (A100) and Hopper (H100/H200). */
export const DEFAULT_ARCHS: readonly string[] = ["sm_80", "sm_90"];

/** One message of nvcc, its front end (cudafe) or ptxas. */
export interface NvccDiagnostic {
  readonly severity: "error" | "warning" | "remark" | "fatal";
  /** Source file and 1-based line, when the message names them. */
  readonly file?: string;
  readonly line?: number;
  /** The diagnostic number, e.g. "177-D". */
  readonly code?: string;
  readonly message: string;
}

export interface NvccResult {
  readonly ok: boolean;
  readonly exitCode: number;
  readonly diagnostics: readonly NvccDiagnostic[];
  /** nvcc's full stderr + stdout, for error messages. */
  readonly log: string;
  readonly command: readonly string[];
}

export interface NvccOptions {
  /** Target architectures, e.g. ["sm_80", "sm_90"], or ["native"] for this machine's GPU. */
  readonly archs?: readonly string[];
  /** `object` (-c), `ptx` (--ptx, one arch only), or `executable` (links with the CUDA runtime). */
  readonly mode?: "object" | "ptx" | "executable";
  /** Where the output goes; a temporary file (deleted afterwards) when omitted. */
  readonly output?: string;
  /** More flags, e.g. ["-O3", "-lineinfo"]. */
  readonly extraFlags?: readonly string[];
  /** Explicit nvcc path (else found with `findNvcc`). */
  readonly nvcc?: string;
}

/**
 * The path of `nvcc`, or `null` when it is not installed: `$NVCC`, then
 * `$CUDA_HOME/bin/nvcc` / `$CUDA_PATH/bin/nvcc`, then `PATH`, then `/usr/local/cuda/bin/nvcc`.
 *
 * @example
 * const nvcc = findNvcc(); // "/usr/local/bin/nvcc" or null
 */
export function findNvcc(env: Readonly<Record<string, string | undefined>> = process.env): string | null {
  const candidates = [
    env.NVCC,
    env.CUDA_HOME && join(env.CUDA_HOME, "bin", "nvcc"),
    env.CUDA_PATH && join(env.CUDA_PATH, "bin", "nvcc"),
    ...(env.PATH ?? "")
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, "nvcc")),
    "/usr/local/cuda/bin/nvcc",
  ];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

/** `findNvcc()`, or an error that says how to install or point to nvcc. */
export function requireNvcc(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const nvcc = findNvcc(env);
  if (!nvcc) {
    throw new Error(
      "nvcc (the CUDA compiler) was not found: looked at $NVCC, $CUDA_HOME/bin, $CUDA_PATH/bin, PATH and /usr/local/cuda/bin. " +
        "Install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads) or set NVCC=/path/to/nvcc.",
    );
  }
  return nvcc;
}

/**
 * Flags that make every host-code warning an error (the tests build generated code with them); optimized,
 * because g++'s flow-sensitive warnings (-Wuse-after-free) only fire when functions are inlined.
 */
export const HOST_WARNINGS_AS_ERRORS: readonly string[] = ["-Xcompiler", "-O2,-Wall,-Werror"];

/** The nvcc command line for compiling `file`. Warnings are errors. */
export function nvccArgs(file: string, output: string, options: NvccOptions = {}): string[] {
  const archs = options.archs ?? DEFAULT_ARCHS;
  const mode = options.mode ?? "object";
  for (const a of archs) {
    if (!/^sm_\d+[a-z]?$/.test(a) && a !== "native")
      throw new RangeError(`nvcc: architecture "${a}" is not of the form sm_80 / sm_90a, or "native"`);
  }
  if (mode === "ptx" && archs.length !== 1)
    throw new RangeError(`nvcc: --ptx compiles for one architecture, got ${archs.length} (${archs.join(", ")})`);
  if (archs.includes("native") && archs.length !== 1)
    throw new RangeError(`nvcc: "native" (this machine's GPU) cannot be combined with other architectures`);
  const gencode =
    archs[0] === "native"
      ? ["-arch=native"]
      : archs.flatMap((a) => [
          "-gencode",
          `arch=compute_${a.slice(3)},code=${mode === "ptx" ? "compute" : "sm"}_${a.slice(3)}`,
        ]);
  const modeFlag = mode === "object" ? ["-c"] : mode === "ptx" ? ["--ptx"] : [];
  return [
    ...gencode,
    ...modeFlag,
    "-std=c++17",
    "-Werror",
    "all-warnings",
    ...(options.extraFlags ?? []),
    file,
    "-o",
    output,
  ];
}

const LOCATED = /^(.*?)\((\d+)\): (error|warning|remark|catastrophic error)(?: #([\w-]+))?: (.*)$/;
const TOOL = /^(?:ptxas|nvlink|nvcc|fatbinary)\s*(error|warning|fatal|info)\s*:\s*(.*)$/;

/** Parses nvcc output into diagnostics (front-end messages with file/line, and ptxas/nvcc tool messages). */
export function parseNvccDiagnostics(log: string): NvccDiagnostic[] {
  const out: NvccDiagnostic[] = [];
  for (const raw of log.split("\n")) {
    const line = raw.trimEnd();
    const m = LOCATED.exec(line);
    if (m) {
      const severity = m[3] === "catastrophic error" ? "fatal" : (m[3] as NvccDiagnostic["severity"]);
      out.push({ severity, file: m[1], line: Number(m[2]), code: m[4], message: m[5]! });
      continue;
    }
    const t = TOOL.exec(line);
    if (t && t[1] !== "info") out.push({ severity: t[1] as NvccDiagnostic["severity"], message: t[2]! });
  }
  return out;
}

function withSourceFile<T>(
  source: string,
  options: NvccOptions,
  run: (file: string, output: string, dir: string) => T,
): T {
  const dir = mkdtempSync(join(tmpdir(), "moeforge-nvcc-"));
  const file = join(dir, "source.cu");
  writeFileSync(file, source);
  const ext = { object: ".o", ptx: ".ptx", executable: "" }[options.mode ?? "object"];
  return run(file, options.output ?? join(dir, `out${ext}`), dir);
}

function result(exitCode: number, log: string, command: string[]): NvccResult {
  return { ok: exitCode === 0, exitCode, diagnostics: parseNvccDiagnostics(log), log, command };
}

/**
 * Compiles CUDA source with nvcc (synchronously). Never throws for compile
 * errors: they are in `diagnostics`; throws only when nvcc is missing.
 *
 * @example
 * const r = compileCudaSync(src, { archs: ["sm_80", "sm_90"] });
 * if (!r.ok) console.error(formatDiagnostics(r));
 */
export function compileCudaSync(source: string, options: NvccOptions = {}): NvccResult {
  const nvcc = options.nvcc ?? requireNvcc();
  return withSourceFile(source, options, (file, output, dir) => {
    const args = nvccArgs(file, output, options);
    try {
      const r = spawnSync(nvcc, args, { encoding: "utf8", maxBuffer: 64 << 20 });
      if (r.error) throw new Error(`could not run ${nvcc}: ${r.error.message}`);
      return result(r.status ?? 1, `${r.stderr}${r.stdout}`, [nvcc, ...args]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** `compileCudaSync` without blocking: several compilations can run in parallel. */
export function compileCuda(source: string, options: NvccOptions = {}): Promise<NvccResult> {
  const nvcc = options.nvcc ?? requireNvcc();
  return withSourceFile(source, options, (file, output, dir) => {
    const args = nvccArgs(file, output, options);
    return new Promise<NvccResult>((resolve, reject) => {
      const child = spawn(nvcc, args);
      let log = "";
      child.stdout.on("data", (d: Buffer) => (log += d.toString()));
      child.stderr.on("data", (d: Buffer) => (log += d.toString()));
      child.on("error", (e) => reject(new Error(`could not run ${nvcc}: ${e.message}`)));
      child.on("close", (code) => resolve(result(code ?? 1, log, [nvcc, ...args])));
    }).finally(() => rmSync(dir, { recursive: true, force: true }));
  });
}

/**
 * Diagnostics as text, each with the offending source line when it has one.
 *
 * @example
 * throw new Error(`nvcc failed:\n${formatDiagnostics(result, source)}`);
 */
export function formatDiagnostics(r: NvccResult, source?: string): string {
  if (r.diagnostics.length === 0) return r.log.trim() || `nvcc exited with code ${r.exitCode}`;
  const lines = source?.split("\n");
  return r.diagnostics
    .map((d) => {
      const where = d.line !== undefined ? `line ${d.line}: ` : "";
      const line = d.line !== undefined && lines ? (lines[d.line - 1]?.trim() ?? "") : "";
      const text = line ? `\n    ${line.length > 240 ? `${line.slice(0, 240)} ...` : line}` : "";
      return `${d.severity}${d.code ? ` #${d.code}` : ""}: ${where}${d.message}${text}`;
    })
    .join("\n");
}

/**
 * The three commands. Each takes parsed options, does its work through aot/
 * and the public API, reports progress on stderr and returns what to print
 * on stdout (text, or an object for --json).
 */
import { DEVICE_CLASSES, type DeviceClass } from "../codegen/device";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { checkGrads, mulberry32 } from "../autodiff/check";
import { Spec } from "../dsl/api";
import { allocArray, isFloat } from "../dsl/dtype";
import { compile } from "../codegen/index";
import { NDArray } from "../dsl/ndarray";
import { Tensor } from "../dsl/tensor";
import { flatten, unflatten } from "../dsl/pytree";
import { parseDims, type DimBinding } from "../aot/dims";
import { EXPORT_TARGETS, exportModel, traceModel, type ExportTarget, type TracedModel } from "../aot/export";
import { InputsError, resolveInputs, type ResolvedInputs } from "../aot/inputs";
import { splitGradient } from "../aot/split";
import { matchWeights, WeightsError, type WeightBinding } from "../aot/weights";
import { CliError } from "./errors";
import { loadModel, userFrame } from "./load";
import type { Reporter } from "./report";

export interface ModelOptions {
  readonly file: string;
  readonly export: string;
  readonly dims?: string;
}

interface LoadedExport {
  readonly fn: (...args: never[]) => unknown;
  readonly description: unknown;
  readonly inputsName: string;
  readonly file: string;
  readonly dims: Map<string, DimBinding>;
}

/** Loads the model file and finds the export and its input description; failures are CliErrors naming the file. */
async function loadExport(o: ModelOptions, report: Reporter): Promise<LoadedExport> {
  let dims: Map<string, DimBinding>;
  try {
    dims = o.dims === undefined ? new Map() : parseDims(o.dims);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const loaded = await report.step(`bundling ${o.file}`, () => loadModel(o.file));
  if (!(o.export in loaded.exports)) {
    const names = Object.keys(loaded.exports).filter((n) => typeof loaded.exports[n] === "function");
    throw new CliError(
      `${loaded.file}: no export named "${o.export}" (exported functions: ${names.join(", ") || "none"})`,
    );
  }
  const fn = loaded.exports[o.export];
  if (typeof fn !== "function")
    throw new CliError(`${loaded.file}: export "${o.export}" is ${describe(fn)}, not a function`);
  const inputsName = `${o.export}Inputs`;
  if (!(inputsName in loaded.exports))
    throw new CliError(
      `${loaded.file}: no export named "${inputsName}": export the shapes to trace ${o.export} with, ` +
        `e.g. export const ${inputsName} = { params: { w: ["D", "H"] }, x: ["T", "D"] }`,
    );
  return {
    fn: fn as (...args: never[]) => unknown,
    description: loaded.exports[inputsName],
    inputsName,
    file: loaded.file,
    dims,
  };
}

/** Runs `body` (which calls the user's model), turning its failures into a CliError at the model's line. */
function inModel<T>(o: ModelOptions, what: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof CliError) throw e;
    const location = userFrame(e, resolve(o.file));
    throw new CliError(`${o.export} failed while ${what}: ${(e as Error).message ?? String(e)}`, {
      ...(location ? { location } : {}),
      cause: e,
    });
  }
}

/** Loads the model file and traces the export. */
export async function loadAndTrace(
  o: ModelOptions,
  report: Reporter,
): Promise<TracedModel & { dims: Map<string, DimBinding> }> {
  const x = await loadExport(o, report);
  const traced = report.stepSync(`tracing ${o.export}`, () =>
    inModel(o, "tracing", () => {
      try {
        return traceModel(x.fn, x.description, x.dims, `${x.file}: ${x.inputsName}`);
      } catch (e) {
        if (e instanceof InputsError) throw new CliError(e.message);
        throw e;
      }
    }),
  );
  return { ...traced, dims: x.dims };
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  return typeof x === "object" ? "an object" : `a ${typeof x}`;
}

export function parseTargets(text: string | undefined): ExportTarget[] {
  const targets = (text ?? "wgsl").split(",").map((t) => t.trim());
  for (const t of targets) {
    if (!(EXPORT_TARGETS as readonly string[]).includes(t))
      throw new CliError(
        `--target: unknown target "${t}"; expected a comma-separated list of ${EXPORT_TARGETS.join(", ")}`,
      );
  }
  return [...new Set(targets)] as ExportTarget[];
}

/** `--device`: a device class (codegen/device.ts), or undefined for the generic GPU schedule. */
export function parseDeviceClass(text: string | undefined): DeviceClass | undefined {
  if (text === undefined) return undefined;
  if (!(DEVICE_CLASSES as readonly string[]).includes(text))
    throw new CliError(`--device: unknown device class "${text}"; expected one of ${DEVICE_CLASSES.join(", ")}`);
  return text as DeviceClass;
}

export interface CompileCommandOptions extends ModelOptions {
  readonly target?: string;
  /** A device class to schedule for (`cpu`: register-tiled, barrier-free GEMMs for CPU adapters). */
  readonly device?: string;
  readonly grad: boolean;
  readonly name?: string;
  readonly out: string;
  /** A safetensors file whose tensors the host module binds by name. */
  readonly params?: string;
}

/** Reads `--params` and matches its tensors to the traced inputs. */
function readWeights(file: string, traced: TracedModel): WeightBinding[] {
  if (!existsSync(file)) throw new CliError(`--params ${file}: no such file`);
  if (!statSync(file).isFile()) throw new CliError(`--params ${file}: not a file`);
  try {
    return matchWeights(readFileSync(file), traced.inputs.leaves, file);
  } catch (e) {
    if (e instanceof WeightsError) throw new CliError(e.message);
    throw e;
  }
}

const C_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `moeforge compile`: writes the export's files under --out; returns the list written. */
export async function compileCommand(
  o: CompileCommandOptions,
  report: Reporter,
): Promise<{ out: string; files: string[] }> {
  const targets = parseTargets(o.target);
  const device = parseDeviceClass(o.device);
  const name = o.name ?? o.export;
  if (!C_IDENTIFIER.test(name) || name.startsWith("mf_"))
    throw new CliError(
      `--name: "${name}" must be an identifier (letters, digits, _; not starting with mf_): it names files, create${"<Name>"} and the C API`,
    );
  const out = resolve(o.out);
  try {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, ".moeforge-write-test"), "");
  } catch (e) {
    throw new CliError(
      `--out ${o.out}: cannot write there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const traced = await loadAndTrace(o, report);
  const weights =
    o.params === undefined ? undefined : report.stepSync(`reading ${o.params}`, () => readWeights(o.params!, traced));
  const files = report.stepSync(
    `compiling ${o.export} for ${targets.join(", ")}${o.grad ? " (forward and backward)" : ""}`,
    () =>
      exportModel(traced, {
        name,
        targets,
        grad: o.grad,
        dims: traced.dims,
        model: { file: o.file, export: o.export },
        ...(weights ? { weights } : {}),
        ...(device ? { device } : {}),
        progress: (s) => report.note(s),
      }),
  );
  try {
    for (const f of files) {
      const path = join(out, f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.content);
    }
  } catch (e) {
    throw new CliError(
      `--out ${o.out}: cannot write there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  } finally {
    try {
      // The write test file goes again whatever happened.
      writeFileSync(join(out, ".moeforge-write-test"), "");
      (await import("node:fs")).rmSync(join(out, ".moeforge-write-test"), { force: true });
    } catch {
      // nothing to clean up
    }
  }
  return { out: o.out, files: files.map((f) => f.path) };
}

export interface IrCommandOptions extends ModelOptions {
  readonly grad: boolean;
  readonly optimized: boolean;
  readonly kernels: boolean;
}

/** `moeforge ir`: the traced program (its gradient split with --grad), optionally the kernels. */
export async function irCommand(o: IrCommandOptions, report: Reporter): Promise<{ text: string; json: unknown }> {
  const traced = await loadAndTrace(o, report);
  const programs = o.grad
    ? (() => {
        const s = splitGradient(traced.program);
        return { forward: s.forward, backward: s.backward };
      })()
    : { forward: traced.program };
  const sections: string[] = [];
  const json: Record<string, unknown> = {};
  for (const [which, p] of Object.entries(programs)) {
    const shown = o.optimized ? (await import("../codegen/passes/pipeline")).optimize(p) : p;
    sections.push(
      `== ${which}${o.optimized ? " (optimized)" : ""}: ${shown.eqns.length} equations\n${shown.toString()}`,
    );
    const entry: Record<string, unknown> = { equations: shown.eqns.length, program: shown.toString() };
    if (o.kernels) {
      const b = compile(p, { target: "wgsl" });
      const lines = b.schedule.map((l, i) => {
        const k = b.kernels.find((x) => x.name === l.kernel)!;
        return `  ${i}: ${k.name} (${k.workgroupSize} threads) ${(k.comment ?? "").split("\n")[0]}`;
      });
      sections.push(
        `-- ${which} kernels: ${b.kernels.length} kernels, ${b.schedule.length} launches\n${lines.join("\n")}`,
      );
      entry.kernels = b.kernels.map((k) => ({
        name: k.name,
        workgroupSize: k.workgroupSize,
        comment: k.comment ?? "",
      }));
    }
    json[which] = entry;
  }
  return { text: sections.join("\n\n"), json };
}

export interface CheckRow {
  readonly parameter: string;
  readonly ok: boolean;
  readonly message?: string;
}

/** `moeforge check`: checkGrads on random f64 inputs (dynamic dims set to `size`), one row per float input. */
export async function checkCommand(
  o: ModelOptions & { readonly size: number; readonly seed: number },
  report: Reporter,
): Promise<CheckRow[]> {
  const x = await loadExport(o, report);
  // A dynamic dim takes --size, moved into its range (the nearest allowed value at or above it).
  const dims = new Map(
    [...x.dims].map(([k, v]) => {
      if (typeof v === "number") return [k, v];
      const size = Math.ceil(Math.max(o.size, v.min) / v.multipleOf) * v.multipleOf;
      return [k, v.max !== undefined && size > v.max ? v.max - (v.max % v.multipleOf) : size];
    }),
  );
  let resolved: ResolvedInputs;
  try {
    resolved = resolveInputs(x.description, dims, `${x.file}: ${x.inputsName}`);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const rand = mulberry32(o.seed);
  const values = resolved.leaves.map((leaf) => {
    const shape = leaf.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    if (!isFloat(leaf.dtype)) return Tensor._concrete(new NDArray(leaf.dtype, shape, allocArray(leaf.dtype, n)));
    return Tensor._concrete(
      new NDArray(
        "f64",
        shape,
        Float64Array.from({ length: n }, () => rand() * 2 - 1),
      ),
    );
  });
  const [, inTree] = flatten<unknown>(resolved.specs, (v) => v instanceof Spec, "inputs");
  const call = (leaves: Tensor[]) => x.fn(...(unflatten(inTree, leaves) as never[]));
  inModel(o, "running on the interpreter", () => call(values));
  const rows: CheckRow[] = [];
  resolved.leaves.forEach((leaf, i) => {
    if (!isFloat(leaf.dtype)) return;
    report.stepSync(`checking ${leaf.path}`, () => {
      try {
        checkGrads((t: Tensor) => call(values.map((v, j) => (j === i ? t : v))), [values[i]!], { seed: o.seed + i });
        rows.push({ parameter: leaf.path, ok: true });
      } catch (e) {
        rows.push({ parameter: leaf.path, ok: false, message: (e as Error).message.split("\n")[0]! });
      }
    });
  });
  return rows;
}

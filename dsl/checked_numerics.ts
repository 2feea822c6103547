/**
 * Checked numerics (like JAX's `debug_nans` / `debug_infs`): `jit(f, { checkNumerics: true })`
 * fails with a `NumericsError` naming the first equation that created a NaN
 * (or, with `"nonfinite"`, an Inf), its op and the user's call site.
 *
 * Normal runs pay only a scan of the outputs. When an output is non-finite,
 * the program is re-run on the interpreter equation by equation to find the
 * culprit: the first equation whose output has a NaN while none of its inputs
 * has one (or an Inf while all its inputs are finite). Non-finite values that
 * merely flow from an input or a constant (a -Inf mask) are reported as such.
 * Device outputs (webgpu) are checked when first read: `await t.data()`
 * rejects with the error, like the device's own errors.
 */
import { isFloat } from "./dtype";
import type { NDArray } from "./ndarray";
import type { Eqn, Program } from "./program";
import { shapeToString } from "./shape";
import { Tensor, type DeviceValue } from "./tensor";
import { evalProgram } from "./trace";

/** What checked numerics rejects: `"nan"` (also `true`) or `"nonfinite"` (NaN and ±Inf). */
export type CheckNumericsMode = "nan" | "nonfinite";

/** A NaN (or Inf) found by checked numerics. */
export class NumericsError extends Error {
  override name = "NumericsError";
  /** Marks the message as already naming the user's call site (see `withCallSite`). */
  readonly _sited = true;
  constructor(
    message: string,
    /** The culprit equation's index in the program, when one was found. */
    readonly equation?: number,
    /** Its primitive. */
    readonly op?: string,
    /** The user's file:line:col that created it. */
    readonly site?: string,
  ) {
    super(message);
  }
}

/** Normalises the `checkNumerics` option; undefined when off. */
export function checkNumericsMode(option: boolean | CheckNumericsMode | undefined): CheckNumericsMode | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true || option === "nan") return "nan";
  if (option === "nonfinite") return option;
  throw new TypeError(`jit: checkNumerics = ${JSON.stringify(option)}; expected true, false, "nan" or "nonfinite"`);
}

interface Found {
  readonly what: "NaN" | "Inf";
  readonly count: number;
  readonly first: number;
}

/** The first kind of rejected value in `a` (NaN before Inf), or undefined when it has none. */
function scan(a: NDArray, mode: CheckNumericsMode): Found | undefined {
  if (!isFloat(a.dtype)) return undefined;
  let nan = 0;
  let inf = 0;
  let firstNan = -1;
  let firstInf = -1;
  const d = a.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v !== v) {
      if (nan++ === 0) firstNan = i;
    } else if (mode === "nonfinite" && (v === Infinity || v === -Infinity)) {
      if (inf++ === 0) firstInf = i;
    }
  }
  if (nan) return { what: "NaN", count: nan, first: firstNan };
  if (inf) return { what: "Inf", count: inf, first: firstInf };
  return undefined;
}

const describeFound = (f: Found, a: NDArray) =>
  `${f.what} (${f.count} of ${a.size} elements, the first at flat index ${f.first})`;

/** Whether an equation created `found` rather than passing it on from its inputs. */
function created(found: Found, inputs: readonly NDArray[]): boolean {
  return inputs.every((x) => {
    const bad = scan(x, found.what === "NaN" ? "nan" : "nonfinite");
    return bad === undefined;
  });
}

function culpritError(program: Program, e: Eqn, index: number, out: NDArray, found: Found): NumericsError {
  const site = e.site?.location;
  const inputs = e.inputs.map((v) => `${v}: ${v.dtype}${shapeToString(v.shape)}`).join(", ");
  const from = found.what === "NaN" ? "none of its inputs has a NaN" : "its inputs are finite";
  return new NumericsError(
    `checked numerics: equation ${index + 1} of ${program.eqns.length}, ${e.out} = ${e.prim}(${inputs}), ` +
      `produced ${describeFound(found, out)}; ${from}` +
      (site ? `\n    at ${site}` : " (no call site: the equation was made by a transform)"),
    index,
    e.prim,
    site,
  );
}

/**
 * Re-runs `program` on the interpreter equation by equation and returns the
 * error naming the first culprit (see the module comment). `backend` and
 * `output` say what triggered the search, for the fallback messages.
 */
export function findNonFinite(
  program: Program,
  inputs: readonly NDArray[],
  mode: CheckNumericsMode,
  trigger: string,
): NumericsError {
  let error: NumericsError | undefined;
  const stop = new Error("stop");
  try {
    evalProgram(
      program,
      inputs.map((a) => Tensor._concrete(a)),
      (e, i, ins, out) => {
        const found = scan(out._value(), mode);
        if (
          found &&
          created(
            found,
            ins.map((t) => t._value()),
          )
        ) {
          error = culpritError(program, e, i, out._value(), found);
          throw stop;
        }
      },
    );
  } catch (e) {
    if (e !== stop) throw e;
  }
  if (error) return error;
  for (const [i, a] of inputs.entries()) {
    const found = scan(a, mode);
    if (found)
      return new NumericsError(
        `checked numerics: ${trigger}; it comes from input ${i} (${a.dtype}${shapeToString(a.shape)}), ` +
          `which contains ${describeFound(found, a)}`,
      );
  }
  for (const [v, a] of program.consts) {
    const found = scan(a, mode);
    if (found)
      return new NumericsError(
        `checked numerics: ${trigger}; it comes from a constant (${v}: ${a.dtype}${shapeToString(a.shape)}) ` +
          `holding ${found.what}, e.g. a -Infinity mask; check with "nan" to allow infinities`,
      );
  }
  return new NumericsError(
    `checked numerics: ${trigger}, but the interpreter computes no such value in any equation: ` +
      `the backend disagrees with the interpreter (a bug in moeforge; please report it with this program)`,
  );
}

/** The first output with a rejected value, as a sentence, or undefined when all are clean. */
function badOutput(values: readonly NDArray[], mode: CheckNumericsMode, backend: string): string | undefined {
  for (const [i, a] of values.entries()) {
    const found = scan(a, mode);
    if (found) return `output ${i} of the ${backend} backend contains ${describeFound(found, a)}`;
  }
  return undefined;
}

/** The host value of a tensor (device values are read). */
const hostValue = (t: Tensor): Promise<NDArray> | NDArray =>
  t._node.kind === "device" ? t._node.value.read() : t._value();

/**
 * A device output of a checked call: reading it first checks every output of
 * the call (once), then reads the value; the device value itself stays
 * reachable through `wrapped`, so it can be passed to further programs.
 */
class CheckedDeviceValue implements DeviceValue {
  readonly backend: string;
  readonly dtype: DeviceValue["dtype"];
  readonly shape: DeviceValue["shape"];
  constructor(
    readonly wrapped: DeviceValue,
    private readonly check: () => Promise<unknown>,
  ) {
    this.backend = wrapped.backend;
    this.dtype = wrapped.dtype;
    this.shape = wrapped.shape;
  }
  /** Checks the call's outputs (once), then reads this one (again: the device value may have changed hands). */
  async read(): Promise<NDArray> {
    await this.check();
    return this.wrapped.read();
  }
  dispose(): void {
    this.wrapped.dispose?.();
  }
}

/**
 * Checks the outputs of one run of `program`: throws the `NumericsError` for
 * host outputs; device outputs are returned wrapped, checked on first read.
 */
export function checkOutputs(
  program: Program,
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
  mode: CheckNumericsMode,
  backend: string,
): Tensor[] {
  if (!outputs.some((t) => t.isDevice)) {
    const trigger = badOutput(
      outputs.map((t) => t._value()),
      mode,
      backend,
    );
    if (trigger)
      throw findNonFinite(
        program,
        inputs.map((t) => t._value()),
        mode,
        trigger,
      );
    return [...outputs];
  }
  let result: Promise<readonly NDArray[]> | undefined;
  const check = () =>
    (result ??= (async () => {
      const values = await Promise.all(outputs.map(hostValue));
      const trigger = badOutput(values, mode, backend);
      if (trigger) throw findNonFinite(program, await Promise.all(inputs.map(hostValue)), mode, trigger);
      return values;
    })());
  return outputs.map((t) =>
    t._node.kind === "device" ? Tensor._device(new CheckedDeviceValue(t._node.value, check)) : t,
  );
}

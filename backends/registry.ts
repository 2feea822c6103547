import type { Program } from "../dsl/program";
import type { Tensor } from "../dsl/tensor";
import { interpBackend } from "./interp/backend";

/**
 * Names of backends: the built-in ones, or any name a `registerBackend` call added
 * (the `string & {}` keeps editor completion for the built-in names).
 */
export type BackendName = "interp" | "cpu" | "webgpu" | "cuda" | (string & {});

/** Per-call options of `Backend.run` (from `jit`'s options). */
export interface RunOptions {
  /**
   * Run-time checks of data-dependent indices and raggedMatmul group sizes
   * (default true): a failure throws like the interpreter. `false` skips them
   * for speed (bad indices are then clamped or skipped). The interpreter always checks.
   */
  readonly checks?: boolean;
}

/**
 * A backend executes Programs; it never redefines what a primitive means
 * (the interpreter's definitions are the oracle).
 */
export interface Backend {
  readonly name: BackendName;
  /** `true`, or a sentence saying why the backend cannot run here and how to fix that. */
  available(): true | string;
  run(program: Program, inputs: readonly Tensor[], options?: RunOptions): Tensor[];
}

const backends = new Map<BackendName, Backend>([["interp", interpBackend]]);
let selected: BackendName | undefined;

/** Makes a backend selectable (backends register themselves when imported). */
export function registerBackend(b: Backend): void {
  backends.set(b.name, b);
}

/** Chooses the default backend for `jit`. Fails clearly when it cannot run here. */
export function setBackend(name: BackendName): void {
  getBackend(name);
  selected = name;
}

/** The named backend, or the selected/default one. */
export function getBackend(name?: BackendName): Backend {
  const want = name ?? selected ?? defaultBackendName();
  const b = backends.get(want);
  if (!b)
    throw new Error(
      `backend "${want}" is not available: it is not registered; known backends: ${[...backends.keys()].join(", ")}` +
        (want === "cuda" ? `; the cuda backend is Node-only: import "moeforge/cuda" to register it` : ""),
    );
  const ok = b.available();
  if (ok !== true) throw new Error(`backend "${want}" is not available: ${ok}`);
  return b;
}

function defaultBackendName(): BackendName {
  for (const n of ["cpu", "interp"] as const) if (backends.get(n)?.available() === true) return n;
  return "interp";
}

/** The backend `jit` uses when none is named. */
export function defaultBackend(): BackendName {
  return selected ?? defaultBackendName();
}

/**
 * `--dims T=dynamic,D=512,E=8`: each named size of the model's inputs is a
 * number (baked into the kernels) or `dynamic` (stays symbolic: one build
 * serves every value, given at run time). A dynamic dim may carry a range and
 * a divisor: `T=dynamic:16..4096:%8` (16 <= T <= 4096, T a multiple of 8).
 * A multiple of K is traced as `K * T_divK`, so reshapes that split T into
 * groups of K trace; the host code checks both before launching.
 */

/** A dynamic dim and its constraints (min >= 1; max: none given, the 32-bit limit applies). */
export interface DynamicDim {
  readonly kind: "dynamic";
  readonly min: number;
  readonly max?: number;
  readonly multipleOf: number;
}

/** A dim binding: a concrete size, or dynamic. */
export type DimBinding = number | DynamicDim;

export class DimsError extends Error {
  override name = "DimsError";
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const POSITIVE = /^[1-9][0-9]*$/;

/** The plain `dynamic` binding (no range, no divisor). */
export const DYNAMIC: DynamicDim = { kind: "dynamic", min: 1, multipleOf: 1 };

/**
 * The symbolic dim a dynamic dim traces as: its own name, or `<name>_div<K>`
 * when it is a multiple of K (the dim is then K times that atom).
 */
export function atomOf(name: string, b: DynamicDim): string {
  return b.multipleOf === 1 ? name : `${name}_div${b.multipleOf}`;
}

function positive(text: string, what: string): number {
  if (!POSITIVE.test(text) || !Number.isSafeInteger(Number(text)))
    throw new DimsError(`--dims: ${what}: "${text}" is not a positive integer`);
  return Number(text);
}

/** Parses `dynamic[:MIN..MAX][:%K]` (the part after `NAME=`). */
function parseDynamic(name: string, value: string): DynamicDim {
  const [, ...qualifiers] = value.split(":");
  let min = 1;
  let max: number | undefined;
  let multipleOf = 1;
  for (const q of qualifiers) {
    const range = /^([^.]*)\.\.([^.]*)$/.exec(q);
    if (range) {
      if (range[1]) min = positive(range[1], `${name} minimum`);
      if (range[2]) max = positive(range[2], `${name} maximum`);
    } else if (q.startsWith("%")) multipleOf = positive(q.slice(1), `${name} divisor`);
    else
      throw new DimsError(`--dims: ${name}=${value}: "${q}" is not MIN..MAX or %K (e.g. ${name}=dynamic:1..4096:%8)`);
  }
  min = Math.ceil(min / multipleOf) * multipleOf;
  if (max !== undefined && max < min)
    throw new DimsError(
      `--dims: ${name}=${value}: no value of ${name} is allowed (` +
        (multipleOf > 1 ? `the smallest multiple of ${multipleOf} from the minimum is ${min}, ` : "") +
        `above the maximum ${max})`,
    );
  return { kind: "dynamic", min, ...(max !== undefined ? { max } : {}), multipleOf };
}

/**
 * Parses a `--dims` value. Throws a DimsError naming the malformed entry.
 * @example parseDims("T=dynamic:1..4096:%8,D=16") // Map { "T" => { kind: "dynamic", min: 8, max: 4096, multipleOf: 8 }, "D" => 16 }
 */
export function parseDims(text: string): Map<string, DimBinding> {
  const dims = new Map<string, DimBinding>();
  const expected = "expected NAME=SIZE or NAME=dynamic, comma-separated (e.g. T=dynamic,D=512)";
  for (const entry of text.split(",")) {
    const m = /^\s*([^=\s]+)\s*=\s*(\S+)\s*$/.exec(entry);
    if (!m) throw new DimsError(`--dims: "${entry}" is malformed; ${expected}`);
    const [, name, value] = m as unknown as [string, string, string];
    if (!NAME.test(name)) throw new DimsError(`--dims: "${name}" is not a dim name (letters, digits, _); ${expected}`);
    if (dims.has(name)) throw new DimsError(`--dims: ${name} is given twice`);
    if (value === "dynamic" || value.startsWith("dynamic:")) dims.set(name, parseDynamic(name, value));
    else if (POSITIVE.test(value) && Number.isSafeInteger(Number(value))) dims.set(name, Number(value));
    else throw new DimsError(`--dims: ${name}=${value}: the size must be a positive integer or "dynamic"`);
  }
  return dims;
}

/** A binding as `--dims` spells it: `512`, `dynamic`, `dynamic:8..4096:%8`. */
export function formatBinding(b: DimBinding): string | number {
  if (typeof b === "number") return b;
  const range = b.min > b.multipleOf || b.max !== undefined ? `:${b.min}..${b.max ?? ""}` : "";
  return `dynamic${range}${b.multipleOf > 1 ? `:%${b.multipleOf}` : ""}`;
}

/**
 * Pieces of C text that both CUDA host APIs emit (a bundle's launcher,
 * backends/cuda/bundle.ts, and the AOT model API, aot/cuda_api.ts): string
 * tables with bounds-checked accessors, and the status-code strings.
 */

/** One string table: `P_<array>[]` holding `values`, read by `P_<accessor>(int i)`, bounded by the macro `count`. */
export interface CNameTable {
  readonly accessor: string;
  readonly array: string;
  readonly count: string;
  readonly values: readonly string[];
}

/** A C array initialiser of string literals (`{0}` when empty: C has no empty initialiser). */
export const cStrings = (xs: readonly string[]): string => `{${xs.map((x) => JSON.stringify(x)).join(", ") || "0"}}`;

/** The tables' static arrays. */
export function cNameArrays(P: string, tables: readonly CNameTable[]): string {
  return tables.map((t) => `static const char* const ${P}_${t.array}[] = ${cStrings(t.values)};`).join("\n");
}

/** The tables' accessors: the i-th string, or null past either end. */
export function cNameAccessors(P: string, tables: readonly CNameTable[]): string {
  return tables
    .map(
      (t) =>
        `extern "C" const char* ${P}_${t.accessor}(int i) { return i >= 0 && i < ${t.count} ? ${P}_${t.array}[i] : 0; }`,
    )
    .join("\n");
}

/** `P_status_string(int)`: the shared status codes' meanings plus `extra` ([code suffix, meaning]). */
export function cStatusString(P: string, extra: readonly (readonly [code: string, meaning: string])[] = []): string {
  const codes: (readonly [string, string])[] = [
    ["OK", "ok"],
    ["ERR_INVALID_ARGUMENT", "invalid argument"],
    ["ERR_CUDA", "CUDA error"],
    ["ERR_OUT_OF_MEMORY", "out of device memory"],
    ["ERR_CHECK_FAILED", "run-time check failed"],
    ...extra,
  ];
  return `extern "C" const char* ${P}_status_string(int status) {
  switch (status) {
${codes.map(([code, meaning]) => `    case ${P}_${code}: return ${JSON.stringify(meaning)};`).join("\n")}
    default: return "unknown status";
  }
}`;
}

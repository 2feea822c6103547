// Lint rules: typescript-eslint's recommended set, with the few project
// conventions below (unused names may start with "_"; tests may use `any`).
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { builtinModules } from "node:module";

// The core must load in a browser: no Node built-in there (Node-only code lives in
// backends/cuda behind "moeforge/cuda"; the cpu pool reaches worker_threads at run time).
const nodeBuiltins = builtinModules.filter((m) => !m.startsWith("_"));
const noNodeBuiltins = {
  paths: nodeBuiltins.map((name) => ({ name, message: "the core must load in a browser: no Node built-ins here" })),
  patterns: [{ group: ["node:*"], message: "the core must load in a browser: no Node built-ins here" }],
};

export default tseslint.config(
  { ignores: ["node_modules/**", "out/**", "dist/**", "bench/node_modules/**", "docs/results/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["dsl/**/*.ts", "autodiff/**/*.ts", "codegen/**/*.ts", "moe/**/*.ts", "index.ts", "core.ts"],
    rules: { "no-restricted-imports": ["error", noNodeBuiltins] },
  },
  {
    // Plain-JavaScript Node scripts (the build, the packaging test's consumer app).
    files: ["**/*.mjs"],
    languageOptions: { globals: { console: "readonly", process: "readonly" } },
  },
  {
    // Tests poke at internals and build ill-typed inputs on purpose.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Type tests bind values only to check their types.
    files: ["**/*.test-d.ts"],
    rules: { "@typescript-eslint/no-unused-vars": "off" },
  },
);

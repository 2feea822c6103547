import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    // Generous: a hang guard, not a speed check (nvcc and SwiftShader suites take minutes on a loaded 2-core machine).
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});

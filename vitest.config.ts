import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (path: string): string => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // examples/ import the package by name, as an application would; tests run them on the sources
  // (test/tsconfig.json maps the same names for the typecheck).
  resolve: {
    alias: [
      { find: /^sluice$/, replacement: src("index.ts") },
      { find: /^sluice\/(express|fastify|hono)$/, replacement: src("middleware/$1.ts") },
    ],
  },
  test: {
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 20_000,
          hookTimeout: 30_000,
          fileParallelism: false,
        },
      },
    ],
  },
});

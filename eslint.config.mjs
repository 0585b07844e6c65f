// ESLint: typescript-eslint's recommended rules, tuned to what the code already follows.
// Run: npm run lint (CI runs it, with Prettier's check: npm run format:check).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "out/", "assembly/", ".venv/", ".venv-interop/", "datasets/", "results/", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      // Heavy or optional modules (danfojs, tfjs-node, tslab's own) are loaded on first use with require().
      "@typescript-eslint/no-require-imports": "off",
      // A leading underscore marks a parameter or a destructured key that is deliberately unused.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      // Walking a module tree starts from `this` (let m: Module = this).
      "@typescript-eslint/no-this-alias": ["error", { allowedNames: ["m"] }],
    },
  },
);

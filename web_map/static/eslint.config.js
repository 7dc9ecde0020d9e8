// ESLint's flat config for the pages' own scripts (js/): `npx eslint` here, and in
// `./dev lint` / `./dev test`. The vendor files under node_modules are not ours to lint.
// CommonJS, so that Node reads it without a "type": "module" in package.json.
const js = require("@eslint/js");
const globals = require("globals");

// The page's own rules beyond ESLint's recommended set: what has bitten browser code.
const rules = {
  eqeqeq: ["error", "always", { null: "ignore" }],
  "no-var": "error",
  "prefer-const": "error",
  "no-implicit-coercion": ["error", { allow: ["!!"] }],
  // `/* global L */` in a file restates a global the config has: harmless, allowed.
  "no-redeclare": ["error", { builtinGlobals: false }],
  "no-use-before-define": ["error", { functions: false, classes: true, variables: false }],
  "no-throw-literal": "error",
  "no-return-assign": ["error", "except-parens"],
  // A `catch (err)` that ignores the error, and a callback's unused parameters, still name
  // them (the signature documents what arrives); unused variables are errors.
  "no-unused-vars": ["error", { caughtErrors: "none", args: "none" }],
  curly: ["error", "multi-line"],
};

// What the vendor scripts put on window, and what our classic scripts share.
const pageGlobals = {
  ...globals.browser,
  L: "readonly",
  echarts: "readonly",
  SwaggerUIBundle: "readonly",
  GridmapCommon: "readonly",
};

module.exports = [
  { ignores: ["node_modules/**", "vendor/**"] },
  js.configs.recommended,
  {
    // The classic scripts: each an IIFE exposing one global (command_view.js, editor.js…).
    files: ["js/**/*.js"],
    ignores: ["js/api_client.js", "js/legend.js", "js/queues.js", "js/alerts.js", "js/header.js", "js/workbench.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: pageGlobals },
    rules,
  },
  {
    // The workbench's ES modules.
    files: ["js/api_client.js", "js/legend.js", "js/queues.js", "js/alerts.js", "js/header.js", "js/workbench.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: pageGlobals },
    rules,
  },
  {
    // The phone page's service worker runs in a worker, not a window.
    files: ["js/phone_sw.js"],
    languageOptions: { globals: { ...globals.serviceworker, GridmapOutbox: "readonly" } },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
    rules,
  },
];

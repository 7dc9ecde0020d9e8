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

// What the vendor scripts put on window.
const pageGlobals = {
  ...globals.browser,
  L: "readonly",
  echarts: "readonly",
  SwaggerUIBundle: "readonly",
};

// The classic scripts that stay classic (tests/test_page_scripts.py holds the same list):
// basemap.js and phone_workers_layer.js start themselves on any page that loads them
// (the phone loads basemap.js too), phone_outbox.js is also the service worker's
// (importScripts), phone_sw.js is the service worker, swagger_init.js starts /docs.
// Everything else under js/ is an ES module.
const CLASSIC = ["js/basemap.js", "js/phone_workers_layer.js", "js/phone_outbox.js", "js/phone_sw.js", "js/swagger_init.js"];

module.exports = [
  { ignores: ["node_modules/**", "vendor/**"] },
  js.configs.recommended,
  {
    // The pages' ES modules: every script a page loads with type="module" and what they import.
    files: ["js/**/*.js"],
    ignores: CLASSIC,
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: pageGlobals },
    rules,
  },
  {
    // The classic scripts: each an IIFE exposing at most one global.
    files: CLASSIC,
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: pageGlobals },
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

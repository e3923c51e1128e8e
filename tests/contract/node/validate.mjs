// Validates an AsyncAPI document with the official tools and prints every finding as JSON:
//   node validate.mjs DOCUMENT.json
// 1. the @asyncapi/specs JSON Schema of the document's version (Ajv, draft-07, every error);
// 2. the @asyncapi/parser (its own validation and its Spectral ruleset: errors, warnings, hints).
// Prints {"schemaErrors": [...], "diagnostics": [...]} and exits 0; the Python test decides.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Parser } from "@asyncapi/parser";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const specs = require("@asyncapi/specs");

const text = readFileSync(process.argv[2], "utf8");
const doc = JSON.parse(text);

const schema = specs.schemasWithoutId[doc.asyncapi];
let schemaErrors = [];
if (!schema) {
  schemaErrors = [{ message: `no @asyncapi/specs schema for version ${doc.asyncapi}` }];
} else {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  if (!validate(doc)) {
    schemaErrors = validate.errors.map((e) => ({ path: e.instancePath, message: e.message, params: e.params }));
  }
}

const parser = new Parser();
const { diagnostics } = await parser.parse(text);
const severities = ["error", "warning", "info", "hint"];
const found = diagnostics.map((d) => ({
  code: d.code,
  severity: severities[d.severity] ?? String(d.severity),
  message: d.message,
  path: d.path.join("."),
}));
process.stdout.write(JSON.stringify({ schemaErrors, diagnostics: found }, null, 1));

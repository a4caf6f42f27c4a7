// Package render owns the template language of the config: a strict, type-preserving dialect
// of Handlebars with handlebars.js 4.7 semantics and no HTML escaping, JSONPath strings, and
// reads through the orchestrator's `_s3_output_pointer` objects. It knows nothing of AWS:
// pointer reads go through the one-method PointerReader.
//
// Templates are parsed by raymond's parser (github.com/aymerick/raymond/parser, which applies
// `~` and standalone-line whitespace rules) and evaluated here: paths (`a.b`, `a/b`, `this`,
// `../`, `[segment literal]`, `items.[1].name`, `items.length`), data variables (`@root`,
// `@index`, `@key`, `@first`, `@last`, `@../index`), block params (`as |item i|`), `else`,
// `else if`, `{{^}}`, subexpressions, and sections over values (`{{#items}}`, `{{^items}}`) as
// handlebars.js's blockHelperMissing renders them. `../` counts depths as handlebars.js 4.x
// does: a block that keeps the same context (#if, #unless) adds no level.
//
// # Helpers
//
//   - if, unless, each, with, lookup: as in handlebars.js 4.7 (includeZero=true for if and
//     unless; each iterates objects in sorted key order);
//   - json x: null prints null, a string prints as it is, anything else as compact JSON with
//     exact numbers and sorted keys (escaped as JSON.stringify escapes);
//   - default x d: x unless x is null or missing;
//   - eq a b, neq a b: strict equality (same type and value; numbers compared exactly as
//     decimals; arrays and objects only equal to themselves);
//   - gt a b, lt a b: numbers compared exactly, strings by code point, anything else false;
//   - base64 s: standard base64 of the text's UTF-8, empty for null;
//   - slice arr start [end]: Array.prototype.slice (negative from the end), [] for a non-array;
//   - #with_json_path "$.path" as |v|: the JSONPath evaluated against the current context;
//     v is the single match itself, several matches as an array, or missing when none match.
//
// # Whole-value typing
//
// A string that is exactly one mustache (`{{path}}`, `{{default x 5}}`, `{{json x}}`: one
// mustache statement and nothing else, not even whitespace or a comment) renders to the value
// itself with its JSON type: json.Number stays json.Number, maps and arrays are returned as
// they are in the context (not copied). A string that is exactly a JSONPath (`$`, or starting
// with `$.` or `$[`, and without `{{`) resolves to what it selects: one match itself, several
// as an array, none an error. A string with neither `{{` nor a JSONPath is returned unchanged.
// Anything else renders to a string.
//
// The JSONPath subset is `$`, `.name`, `['name']`, `["name"]`, `[n]` (negative from the end),
// `.*`, `[*]` and `..` (recursive descent) before any step.
//
// # Pointers
//
// When a path or JSONPath steps into an object `{"_s3_output_pointer": {"bucket": "b", "key":
// "k"}}` for a key it does not hold, the object is read with Options.Pointers, at most once per
// Renderer, and the path goes on in what was read. A path that ends at a pointer returns the
// pointer object itself (a manifest pointer is never read), and recursive descent does not read
// pointers.
//
// # Differences from handlebars.js
//
// All deliberate, and listed in the conformance corpus (testdata/conformance.json):
//   - strict: a path missing from the context (or going through null or a scalar, or `../`
//     above the root, or an undefined @variable) is an error naming the field, the path and
//     the template line; so is an unknown helper, a helper called with the wrong number of
//     arguments, and a simple helper used as a block. Only default's first argument and the
//     condition of if/unless may name something missing;
//   - an object or an array printed inside a larger string (`USER#{{user}}`, `{{this}}` in
//     #each over objects, `{{base64 obj}}`) is an error naming the path, where handlebars.js
//     prints "[object Object]" or the elements joined with commas: such text would silently
//     make a wrong key or query value. `{{json x}}` prints it as JSON; a whole-value `{{x}}`
//     keeps it an object or array;
//   - numbers keep their exact digits (json.Number, never float64), literals in templates too:
//     12345678901234567890 and 1.50 print as written;
//   - objects are iterated and printed in sorted key order, not insertion order;
//   - adjacent numeric mustaches concatenate ({{n}}{{n}} is "77"; handlebars.js 4.7.8 adds
//     them at the start of a program and prints 14);
//   - partials, decorators, raw blocks and the log helper are not supported.
//
// # Limits
//
// A template (a string holding `{{`) may be at most 64 KiB long, and render to at
// most 4 MiB of text. raymond's parser abandons its lexer goroutine on a syntax error, blocked
// for the life of the process and holding the template; internal/parser is a copy of that
// parser that drains the lexer first, so a failed parse leaves nothing behind however many a
// warm process sees.
package render

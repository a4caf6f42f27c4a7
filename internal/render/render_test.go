package render

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testData is the context most tests render against.
const testData = `{
	"s": "hello", "n": 7, "big": 12345678901234567890, "dec": 1.50, "t": true, "f": false,
	"nul": null, "e": "", "z": 0,
	"arr": [1, "two", null], "obj": {"b": 2, "a": 1},
	"items": [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}],
	"initialContextData": {"userId": "u-1"},
	"weird keys": {"with space": "ws", "a.b": "dot", ":pk": "colon"}
}`

func TestValue(t *testing.T) {
	data := decodeJSON(t, testData)
	tests := []struct {
		name string
		tmpl string
		want any
	}{
		{"plain string unchanged", "just text", "just text"},
		{"empty string unchanged", "", ""},
		{"dollar text is not a JSONPath", "$5 or ${x}", "$5 or ${x}"},
		{"single braces unchanged", "{x} }}", "{x} }}"},
		{"whole value string", "{{s}}", "hello"},
		{"whole value number keeps type", "{{n}}", json.Number("7")},
		{"whole value big number keeps digits", "{{big}}", json.Number("12345678901234567890")},
		{"whole value decimal keeps digits", "{{dec}}", json.Number("1.50")},
		{"whole value bool", "{{t}}", true},
		{"whole value null", "{{nul}}", nil},
		{"whole value array", "{{arr}}", []any{json.Number("1"), "two", nil}},
		{"whole value object", "{{obj}}", map[string]any{"a": json.Number("1"), "b": json.Number("2")}},
		{"whole value triple stash", "{{{n}}}", json.Number("7")},
		{"whole value with tildes", "{{~n~}}", json.Number("7")},
		{"whole value helper default", "{{default missing 5}}", json.Number("5")},
		{"whole value helper default present", "{{default n 5}}", json.Number("7")},
		{"whole value helper default null literal", "{{default missing null}}", nil},
		{"whole value helper eq", "{{eq n 7}}", true},
		{"whole value helper json is a string", "{{json obj}}", `{"a":1,"b":2}`},
		{"whole value helper slice", "{{slice arr 1}}", []any{"two", nil}},
		{"whole value lookup", "{{lookup items 1}}", map[string]any{"id": json.Number("2"), "name": "beta"}},
		{"whole value number literal", "{{default missing 007.50}}", json.Number("7.50")},
		{"text around is a string", "n={{n}}", "n=7"},
		{"whitespace around is a string", " {{n}}", " 7"},
		{"two mustaches are a string", "{{n}}{{n}}", "77"},
		{"comment makes it a string", "{{! note }}{{n}}", "7"},
		{"block is a string", "{{#if t}}{{n}}{{/if}}", "7"},
		{"big number prints its digits", "id-{{big}}", "id-12345678901234567890"},
		{"no html escaping", "{{default missing \"<a & b>\"}}!", "<a & b>!"},
		{"segment literal", "{{[weird keys].[with space]}}", "ws"},
		{"segment literal with dot", "{{[weird keys].[a.b]}}", "dot"},
		{"array index segment", "{{items.[1].name}}", "beta"},
		{"array length", "{{items.length}}", json.Number("2")},
		{"string length counts UTF-16 units", "{{default missing \"é😀\"}}", "é😀"},
		{"jsonpath whole data", "$", data},
		{"jsonpath field keeps type", "$.n", json.Number("7")},
		{"jsonpath index", "$.items[1].name", "beta"},
		{"jsonpath negative index", "$.items[-1].id", json.Number("2")},
		{"jsonpath bracket name", "$['weird keys'][':pk']", "colon"},
		{"jsonpath wildcard", "$.items[*].name", []any{"alpha", "beta"}},
		{"jsonpath wildcard one match unwrapped", "$.initialContextData.*", "u-1"},
		{"jsonpath object wildcard sorted", "$.obj.*", []any{json.Number("1"), json.Number("2")}},
		{"jsonpath recursive", "$..name", []any{"alpha", "beta"}},
		{"jsonpath null", "$.nul", nil},
		{"seed example", "manifests/{{initialContextData.userId}}.jsonl", "manifests/u-1.jsonl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := New(Options{}).Value(context.Background(), "f", tc.tmpl, data)
			if err != nil {
				t.Fatalf("Value(%q): %v", tc.tmpl, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Value(%q) (-want +got):\n%s", tc.tmpl, diff)
			}
		})
	}
}

func TestValueReturnsDataAsIs(t *testing.T) {
	data := decodeJSON(t, testData).(map[string]any)
	got, err := New(Options{}).Value(context.Background(), "f", "{{obj}}", data)
	if err != nil {
		t.Fatal(err)
	}
	if !sameObject(got, data["obj"]) {
		t.Errorf("whole value {{obj}} is a copy, want the context's own map")
	}
}

func TestTemplates(t *testing.T) {
	data := decodeJSON(t, testData)
	tests := []struct {
		name string
		tmpl string
		want string
	}{
		{"each array with data variables", "{{#each items}}{{@index}}{{@key}}{{#if @first}}F{{/if}}{{#if @last}}L{{/if}}{{name}};{{/each}}", "00Falpha;11Lbeta;"},
		{"each object sorted", "{{#each obj}}{{@key}}={{this}}{{#unless @last}},{{/unless}}{{/each}}", "a=1,b=2"},
		{"each null element is its own context", "{{#each arr}}[{{this}}]{{/each}}", "[1][two][]"},
		{"each else", "{{#each e}}x{{else}}none{{/each}}", "none"},
		{"each block params", "{{#each items as |it i|}}{{i}}:{{it.name}} {{/each}}", "0:alpha 1:beta "},
		{"parent path in each", "{{#each items}}{{../s}}-{{name}} {{/each}}", "hello-alpha hello-beta "},
		{"if does not add a depth", "{{#each items}}{{#if id}}{{../s}}{{/if}}{{/each}}", "hellohello"},
		{"at root", "{{#each items}}{{@root.s}}{{/each}}", "hellohello"},
		{"parent data", "{{#each items}}{{#each ../arr}}{{@../index}}{{@index}} {{/each}}{{/each}}", "00 01 02 10 11 12 "},
		{"with", "{{#with initialContextData}}{{userId}}{{/with}}", "u-1"},
		{"with block param", "{{#with initialContextData as |icd|}}{{icd.userId}}{{/with}}", "u-1"},
		{"with else", "{{#with nul}}x{{else}}empty{{/with}}", "empty"},
		{"if else if else", "{{#if f}}a{{else if z}}b{{else if s}}c{{else}}d{{/if}}", "c"},
		{"if missing condition", "{{#if nope.deeper}}a{{else}}b{{/if}}", "b"},
		{"unless missing condition", "{{#unless nope}}absent{{/unless}}", "absent"},
		{"if includeZero", "{{#if z includeZero=true}}zero{{/if}}", "zero"},
		{"if zero is false", "{{#if z}}zero{{else}}no{{/if}}", "no"},
		{"section over object", "{{#initialContextData}}{{userId}}{{/initialContextData}}", "u-1"},
		{"inverted section on null", "{{^nul}}empty{{/nul}}", "empty"},
		{"inverted section on empty string renders nothing, as in handlebars.js", "{{^e}}empty{{/e}}", ""},
		{"subexpressions", "{{#if (eq (default nope \"x\") \"x\")}}ok{{/if}}", "ok"},
		{"eq exact decimals", "{{eq dec 1.5}}/{{eq big 12345678901234567891}}/{{eq n \"7\"}}", "true/false/false"},
		{"gt lt", "{{gt big 12345678901234567889}}/{{lt \"a\" \"b\"}}/{{gt s 1}}", "true/true/false"},
		{"neq", "{{neq s \"hello\"}}/{{neq nul null}}", "false/false"},
		{"json", "{{json s}}|{{json nul}}|{{json obj}}|{{json big}}|{{json (default nope undefined)}}", `hello|null|{"a":1,"b":2}|12345678901234567890|null`},
		{"json escapes like JSON.stringify", "{{json (slice (lookup this \"arr\") 0 0)}}{{json this.[weird keys]}}", `[]{":pk":"colon","a.b":"dot","with space":"ws"}`},
		{"base64", "{{base64 s}}|{{base64 nul}}|{{base64 n}}", "aGVsbG8=||Nw=="},
		{"slice", "{{json (slice arr 0 -1)}}|{{json (slice arr -2)}}|{{json (slice s 1)}}|{{json (slice arr 5)}}", `[1,"two"]|["two",null]|[]|[]`},
		{"with_json_path", "{{#with_json_path \"$.items[*].id\" as |ids|}}{{json ids}}{{/with_json_path}}", "[1,2]"},
		{"with_json_path single match", "{{#with_json_path \"$.items[0]\" as |it|}}{{it.name}}{{/with_json_path}}", "alpha"},
		{"with_json_path no match", "{{#with_json_path \"$.nope\" as |v|}}{{default v \"none\"}}{{/with_json_path}}", "none"},
		{"with_json_path is relative to this", "{{#each items}}{{#with_json_path \"$.name\" as |v|}}{{v}}{{/with_json_path}}{{/each}}", "alphabeta"},
		{"lookup", "{{lookup obj \"a\"}}{{json (lookup items 0)}}{{lookup nul \"x\"}}", `1{"id":1,"name":"alpha"}`},
		{"string literal head is a path", "{{\"s\"}}", "hello"},
		{"null and undefined literals", "[{{default null undefined}}]", "[]"},
		{"whitespace control", "a {{~s~}} b", "ahellob"},
		{"raw text with escaped mustache", "\\{{s}}", "{{s}}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := New(Options{}).Value(context.Background(), "f", tc.tmpl, data)
			if err != nil {
				t.Fatalf("Value(%q): %v", tc.tmpl, err)
			}
			if diff := cmp.Diff(tc.want, text(got)); diff != "" {
				t.Errorf("Value(%q) (-want +got):\n%s", tc.tmpl, diff)
			}
		})
	}
}

func TestValueErrors(t *testing.T) {
	data := decodeJSON(t, testData)
	tests := []struct {
		name    string
		tmpl    string
		want    *Error
		wantMsg string // Error(), when given
	}{
		{"missing path", "{{initialContextData.userID}}", &Error{Field: "f", Line: 1, Path: "initialContextData.userID", Msg: `path "initialContextData.userID" not found in the context`},
			`f: template line 1: path "initialContextData.userID" not found in the context`},
		{"missing path on line 3", "a\nb\nc {{nope}}", &Error{Field: "f", Line: 3, Path: "nope", Msg: `path "nope" not found in the context`}, ""},
		{"path through null", "{{nul.x}}", &Error{Field: "f", Line: 1, Path: "nul.x", Msg: `path "nul.x" not found in the context`}, ""},
		{"path through string", "{{s.x}}", &Error{Field: "f", Line: 1, Path: "s.x", Msg: `path "s.x" not found in the context`}, ""},
		{"array index out of range", "{{items.[2]}}", &Error{Field: "f", Line: 1, Path: "items.[2]", Msg: `path "items.[2]" not found in the context`}, ""},
		{"missing in each", "{{#each items}}\n{{nmae}}{{/each}}", &Error{Field: "f", Line: 2, Path: "nmae", Msg: `path "nmae" not found in the context`}, ""},
		{"missing in else branch", "{{#if f}}{{/if}}{{#if f}}x{{else}}{{nope}}{{/if}}", &Error{Field: "f", Line: 1, Path: "nope", Msg: `path "nope" not found in the context`}, ""},
		{"missing helper argument", "{{eq nope 1}}", &Error{Field: "f", Line: 1, Path: "nope", Msg: `path "nope" not found in the context`}, ""},
		{"missing default fallback", "{{default nope other}}", &Error{Field: "f", Line: 1, Path: "other", Msg: `path "other" not found in the context`}, ""},
		{"missing each argument", "{{#each nope}}{{/each}}", &Error{Field: "f", Line: 1, Path: "nope", Msg: `path "nope" not found in the context`}, ""},
		{"missing section", "{{#nope}}x{{/nope}}", &Error{Field: "f", Line: 1, Path: "nope", Msg: `path "nope" not found in the context`}, ""},
		{"parent above root", "{{#if t}}{{../s}}{{/if}}", &Error{Field: "f", Line: 1, Path: "../s", Msg: `path "../s" climbs above the root context (#if, #unless and blocks that keep the context do not add a level for ../)`}, ""},
		{"data variable outside each", "{{@index}}", &Error{Field: "f", Line: 1, Path: "@index", Msg: `data variable "@index" is not defined here`}, ""},
		{"unknown helper", "{{lenght s}}", &Error{Field: "f", Line: 1, Path: "lenght", Msg: `unknown helper "lenght"`},
			`f: template line 1: unknown helper "lenght"`},
		{"block param called with arguments", "{{#each items as |json|}}{{json s}}{{/each}}", &Error{Field: "f", Line: 1, Path: "json",
			Msg: `"json" is a block parameter here, not a helper: it takes no arguments (rename the block parameter to call the helper)`}, ""},
		{"unknown helper suggestion", "{{jsn s}}", &Error{Field: "f", Line: 1, Path: "jsn", Msg: `unknown helper "jsn" (did you mean "json"?)`}, ""},
		{"unknown block helper", "{{#each_with s}}{{/each_with}}", &Error{Field: "f", Line: 1, Path: "each_with", Msg: `unknown helper "each_with"`}, ""},
		{"unknown subexpression helper", "{{json (upper s)}}", &Error{Field: "f", Line: 1, Path: "upper", Msg: `unknown helper "upper"`}, ""},
		{"path used as helper", "{{obj.a s}}", &Error{Field: "f", Line: 1, Path: "obj.a", Msg: `unknown helper "obj.a"`}, ""},
		{"helper arity", "{{eq s}}", &Error{Field: "f", Line: 1, Path: "eq", Msg: `helper "eq" takes 2 arguments, got 1`}, ""},
		{"slice arity", "{{slice arr}}", &Error{Field: "f", Line: 1, Path: "slice", Msg: `helper "slice" takes 2 to 3 arguments, got 1`}, ""},
		{"block helper as mustache", "{{each items}}", &Error{Field: "f", Line: 1, Path: "each", Msg: `helper "each" is a block helper: write {{#each ...}}...{{/each}}`}, ""},
		{"simple helper as block", "{{#eq s 1}}x{{/eq}}", &Error{Field: "f", Line: 1, Path: "eq", Msg: `helper "eq" is not a block helper: write {{eq ...}} or {{#if (eq ...)}}`}, ""},
		{"with_json_path needs a string", "{{#with_json_path n as |v|}}{{/with_json_path}}", &Error{Field: "f", Line: 1, Msg: `helper "with_json_path" needs a JSONPath string, got a number`}, ""},
		{"with_json_path bad path", "{{#with_json_path \"$.a[\" as |v|}}{{/with_json_path}}", &Error{Field: "f", Line: 1, Path: "$.a[", Msg: `invalid JSONPath "$.a[": unclosed [ at offset 3`}, ""},
		{"lookup missing key", "{{lookup obj \"c\"}}", &Error{Field: "f", Line: 1, Path: "c", Msg: `lookup: "c" not found in an object`}, ""},
		{"partial", "{{> header}}", &Error{Field: "f", Line: 1, Msg: "partials ({{> name}}) are not supported"}, ""},
		{"syntax error", "{{#if s}}x", &Error{Field: "f", Line: 1, Msg: "syntax error: Expecting OpenEndBlock, got: 'EOF'"}, ""},
		{"syntax error line", "a\n{{s}\n", &Error{Field: "f", Line: 2, Msg: "syntax error: Unexpected character in expression: '}'"}, ""},
		{"invalid number literal", "{{default nope 1e3}}", &Error{Field: "f", Line: 1, Msg: `invalid number literal "1e3"`}, ""},
		{"jsonpath no match", "$.nope", &Error{Field: "f", Path: "$.nope", Msg: `JSONPath "$.nope" matches nothing in the context`},
			`f: JSONPath "$.nope" matches nothing in the context`},
		{"jsonpath invalid", "$.a b", &Error{Field: "f", Path: "$.a b", Msg: `invalid JSONPath "$.a b": unexpected ' ' at offset 3`}, ""},
		// An object or array printed inside a larger string is an error, not "[object Object]"
		// or "1,two,": it would silently make a wrong key or query value.
		{"object in a larger string", "manifests/{{obj}}-run.jsonl", &Error{Field: "f", Line: 1, Path: "obj",
			Msg: `path "obj" is an object, which cannot be part of a larger string: write {{json obj}} for its JSON text, or make the whole string {{obj}} to keep the value itself`},
			`f: template line 1: path "obj" is an object, which cannot be part of a larger string: write {{json obj}} for its JSON text, or make the whole string {{obj}} to keep the value itself`},
		{"array in a larger string", "USER#{{arr}}", &Error{Field: "f", Line: 1, Path: "arr",
			Msg: `path "arr" is an array, which cannot be part of a larger string: write {{json arr}} for its JSON text, or make the whole string {{arr}} to keep the value itself`}, ""},
		{"object after a block", "{{#if t}}x{{/if}}{{initialContextData}}", &Error{Field: "f", Line: 1, Path: "initialContextData",
			Msg: `path "initialContextData" is an object, which cannot be part of a larger string: write {{json initialContextData}} for its JSON text, or make the whole string {{initialContextData}} to keep the value itself`}, ""},
		{"object as this in each", "{{#each items}}\n{{this}}{{/each}}", &Error{Field: "f", Line: 2, Path: "this",
			Msg: `path "this" is an object, which cannot be part of a larger string: write {{json this}} for its JSON text, or make the whole string {{this}} to keep the value itself`}, ""},
		{"array from a helper", "ids: {{slice arr 1}}", &Error{Field: "f", Line: 1, Path: "slice arr 1",
			Msg: `"slice arr 1" is an array, which cannot be part of a larger string: write {{json (slice arr 1)}} for its JSON text, or make the whole string {{slice arr 1}} to keep the value itself`}, ""},
		{"object from a triple stash", "x{{{lookup items 0}}}", &Error{Field: "f", Line: 1, Path: "lookup items 0",
			Msg: `"lookup items 0" is an object, which cannot be part of a larger string: write {{json (lookup items 0)}} for its JSON text, or make the whole string {{lookup items 0}} to keep the value itself`}, ""},
		{"base64 of an object", "{{base64 obj}}", &Error{Field: "f", Line: 1, Path: "obj",
			Msg: `helper "base64" needs text, got an object (write {{base64 (json obj)}} to encode its JSON)`}, ""},
		{"output too large", "{{#each items}}{{#each @root.items}}{{#each @root.items}}" + strings.Repeat("x", 1000) + "{{/each}}{{/each}}{{/each}}",
			&Error{Field: "f", Line: 1, Msg: "rendered text exceeds 4000 bytes"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Options{})
			r.maxOutput = 4000
			got, err := r.Value(context.Background(), "f", tc.tmpl, data)
			if err == nil {
				t.Fatalf("Value = %#v, want an error", got)
			}
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			if diff := cmp.Diff(tc.want, re); diff != "" {
				t.Errorf("Value error (-want +got):\n%s", diff)
			}
			if tc.wantMsg != "" && err.Error() != tc.wantMsg {
				t.Errorf("Error() = %q, want %q", err.Error(), tc.wantMsg)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	data := decodeJSON(t, `{"initialContextData": {"userId": "u-1"}, "flowExecutionId": "ex-9", "limit": 50, "pk": 12345678901234567890}`).(map[string]any)
	cfg := decodeJSON(t, `{
		"query": {
			"tableName": "orders",
			"keyConditionExpression": "pk = :pk",
			"expressionAttributeValues": {":pk": "{{pk}}", ":user": "USER#{{initialContextData.userId}}", ":flag": true},
			"limit": "{{limit}}"
		},
		"destination": {"bucketName": "b", "key": "manifests/{{initialContextData.userId}}/{{flowExecutionId}}.jsonl"},
		"list": ["{{flowExecutionId}}", 3, {"{{key}}": "$.limit"}]
	}`).(map[string]any)
	before := jsonText(cfg)
	got, err := New(Options{}).Config(context.Background(), cfg, data)
	if err != nil {
		t.Fatal(err)
	}
	want := decodeJSON(t, `{
		"query": {
			"tableName": "orders",
			"keyConditionExpression": "pk = :pk",
			"expressionAttributeValues": {":pk": 12345678901234567890, ":user": "USER#u-1", ":flag": true},
			"limit": 50
		},
		"destination": {"bucketName": "b", "key": "manifests/u-1/ex-9.jsonl"},
		"list": ["ex-9", 3, {"{{key}}": 50}]
	}`)
	if diff := cmp.Diff(want, any(got)); diff != "" {
		t.Errorf("Config (-want +got):\n%s", diff)
	}
	if after := jsonText(cfg); after != before {
		t.Errorf("Config modified its input:\nbefore %s\nafter  %s", before, after)
	}
}

func TestConfigReportsEveryField(t *testing.T) {
	data := map[string]any{"a": "x"}
	cfg := decodeJSON(t, `{
		"query": {"tableName": "{{lenght a}}", "expressionAttributeValues": {":pk": "{{pk}}", ":ok": "{{a}}"}},
		"destination": {"key": "{{initialContextData.userId}}"},
		"list": ["ok", "{{a}}", "{{#if}}{{/if}}", "$.missing"]
	}`).(map[string]any)
	_, err := New(Options{}).Config(context.Background(), cfg, data)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Config error = %v (%T), want Errors", err, err)
	}
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	wantFields := []string{"destination.key", "list[2]", "list[3]", "query.expressionAttributeValues.:pk", "query.tableName"}
	if diff := cmp.Diff(wantFields, fields); diff != "" {
		t.Errorf("failing fields (-want +got):\n%s", diff)
	}
	wantMsg := `destination.key: template line 1: path "initialContextData.userId" not found in the context; ` +
		`list[2]: template line 1: helper "if" takes 1 argument, got 0; ` +
		`list[3]: JSONPath "$.missing" matches nothing in the context; ` +
		`query.expressionAttributeValues.:pk: template line 1: path "pk" not found in the context; ` +
		`query.tableName: template line 1: unknown helper "lenght"`
	if diff := cmp.Diff(wantMsg, err.Error()); diff != "" {
		t.Errorf("Error() (-want +got):\n%s", diff)
	}
	var one *Error
	if !errors.As(err, &one) || one.Field != "destination.key" {
		t.Errorf("errors.As(*Error) = %v, want the first field's error", one)
	}
}

func TestErrorsUnwrap(t *testing.T) {
	cause := errors.New("boom")
	errs := Errors{{Field: "a", Msg: "m1"}, {Field: "b", Line: 2, Msg: "m2", Err: cause}}
	if !errors.Is(errs, cause) {
		t.Errorf("errors.Is(Errors, cause) = false")
	}
	if got, want := errs.Error(), "a: m1; b: template line 2: m2: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]error{errs[0], errs[1]}, errs.Unwrap(), cmpopts.EquateErrors()); diff != "" {
		t.Errorf("Unwrap (-want +got):\n%s", diff)
	}
}

package app

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseValidate checks that Parse and Validate never panic, that field
// problems come back as FieldErrors with a message, and that a valid app
// re-encoded as JSON parses to the same app and is still valid.
func FuzzParseValidate(f *testing.F) {
	files, _ := filepath.Glob("testdata/valid/*.json")
	yamls, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range append(files, yamls...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"/web","cmd":"sleep 1","cpus":0.1,"mem":32,"instances":2}`))
	f.Add([]byte(`{"id":"/web","cmd":"x","portDefinitions":[{"port":0},{"port":0,"name":"a"}]}`))
	f.Add([]byte(`{"id":"web","cmd":"x","uris":["http://x"],"fetch":[{"uri":"http://y"}]}`))
	f.Add([]byte(`{"id":"/a","container":{"type":"DOCKER","docker":{"image":"nginx"},"portMappings":[{"containerPort":80}]}}`))
	f.Add([]byte(`{"id":"/a","cmd":"x","constraints":[["hostname","UNIQUE"]],"healthChecks":[{"protocol":"HTTP"}]}`))
	f.Add([]byte(`{"id":"/a","cmd":"x","env":{"P":{"secret":"s"},"Q":"1"},"secrets":{"s":{"value":"v"}}}`))
	f.Add([]byte("id: /a\ncmd: x\ninstances: 1\n"))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":"/a"} {}`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Parse(data)
		if err != nil {
			var fe FieldErrors
			if errors.As(err, &fe) {
				checkFieldErrors(t, "Parse", fe)
			} else if !strings.HasPrefix(err.Error(), "parse app: ") {
				t.Fatalf("Parse error %q is neither FieldErrors nor a parse error", err)
			}
			return
		}
		if a == nil {
			t.Fatal("Parse returned neither an app nor an error")
		}
		if fe := a.Validate(); len(fe) > 0 {
			checkFieldErrors(t, "Validate", fe)
			return
		}
		enc, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("a valid app does not encode: %v", err)
		}
		b, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-encoded app %s does not parse: %v", enc, err)
		}
		if fe := b.Validate(); len(fe) > 0 {
			t.Fatalf("re-encoded app %s is not valid: %v", enc, fe)
		}
		if !reflect.DeepEqual(a, b) {
			enc2, _ := json.Marshal(b)
			t.Fatalf("app changed in a JSON round trip:\n%s\n%s", enc, enc2)
		}
	})
}

func checkFieldErrors(t *testing.T, what string, fe FieldErrors) {
	t.Helper()
	for _, e := range fe {
		if e.Message == "" {
			t.Fatalf("%s: FieldError at %q has no message", what, e.Path)
		}
	}
}

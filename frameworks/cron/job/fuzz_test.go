package job

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics, refuses with FieldErrors only, and every
// job it accepts survives json.Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"a","run":{"cmd":"true","cpus":0.01,"mem":32,"disk":0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := Parse(data)
		if err != nil {
			if _, ok := err.(FieldErrors); !ok {
				t.Fatalf("error is %T, not FieldErrors: %v", err, err)
			}
			return
		}
		if errs := j.Validate(); errs != nil {
			t.Fatalf("accepted job does not validate: %v", errs)
		}
		out, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("marshal accepted job: %v", err)
		}
		j2, err := Parse(out)
		if err != nil {
			t.Fatalf("reparse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(j, j2) {
			t.Fatalf("round trip changed the job:\n%s\n%+v\n%+v", out, j, j2)
		}
		_ = j.Masked()
		_, _ = j.Run.Constraints()
		_ = CheckDependencies(map[string]*Job{j.ID: j})
	})
}

package job

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ErrorDetail is one entry of Metronome's 422 body: a JSON pointer into the
// submitted document and what is wrong there.
type ErrorDetail struct {
	Path   string   `json:"path"`
	Errors []string `json:"errors"`
}

// FieldErrors are every problem found in a job or schedule, one entry per
// path in the order found. Marshalled, it is Metronome's 422 body:
// {"message":"Object is not valid","details":[{"path":...,"errors":[...]}]}.
type FieldErrors []ErrorDetail

// invalidMessage is Metronome's top-level message for a 422.
const invalidMessage = "Object is not valid"

func (e FieldErrors) Error() string {
	parts := make([]string, 0, len(e))
	for _, d := range e {
		parts = append(parts, d.Path+": "+strings.Join(d.Errors, "; "))
	}
	return "invalid job: " + strings.Join(parts, ", ")
}

// add records msg at path, next to earlier problems at the same path.
func (e *FieldErrors) add(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for i := range *e {
		if (*e)[i].Path == path {
			(*e)[i].Errors = append((*e)[i].Errors, msg)
			return
		}
	}
	*e = append(*e, ErrorDetail{Path: path, Errors: []string{msg}})
}

// errorBody is the 422 body's shape.
type errorBody struct {
	Message string        `json:"message"`
	Details []ErrorDetail `json:"details"`
}

// MarshalJSON renders Metronome's 422 body.
func (e FieldErrors) MarshalJSON() ([]byte, error) {
	d := []ErrorDetail(e)
	if d == nil {
		d = []ErrorDetail{}
	}
	return json.Marshal(errorBody{Message: invalidMessage, Details: d})
}

// UnmarshalJSON reads a 422 body (the API client's side).
func (e *FieldErrors) UnmarshalJSON(data []byte) error {
	var b errorBody
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	*e = b.Details
	return nil
}

// pointer escapes a key for a JSON pointer path (RFC 6901).
func pointer(key string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
}

package app

import (
	"encoding/json"
	"strings"
)

// FieldError is one problem with one field. Path is dotted with indices in
// brackets ("container.portMappings[1].containerPort"); "" is the app itself.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

func fieldError(path, msg string) FieldErrors {
	return FieldErrors{{Path: path, Message: msg}}
}

// FieldErrors is every problem found in an app. Its JSON form is Marathon's
// 422 body.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return "invalid app: " + strings.Join(parts, "; ")
}

// Has reports whether some error is at path.
func (es FieldErrors) Has(path string) bool {
	for _, e := range es {
		if e.Path == path {
			return true
		}
	}
	return false
}

// ErrorBody is Marathon's body for 422 Unprocessable Entity.
type ErrorBody struct {
	Message string        `json:"message"`
	Details []ErrorDetail `json:"details"`
}

// ErrorDetail lists the errors of one path, in Marathon's notation.
type ErrorDetail struct {
	Path   string   `json:"path"`
	Errors []string `json:"errors"`
}

// Body groups the errors by path, in first-seen order.
func (es FieldErrors) Body() ErrorBody {
	b := ErrorBody{Message: "Object is not valid", Details: []ErrorDetail{}}
	at := map[string]int{}
	for _, e := range es {
		p := MarathonPath(e.Path)
		i, ok := at[p]
		if !ok {
			i = len(b.Details)
			at[p] = i
			b.Details = append(b.Details, ErrorDetail{Path: p})
		}
		b.Details[i].Errors = append(b.Details[i].Errors, e.Message)
	}
	return b
}

// MarshalJSON renders Marathon's 422 body.
func (es FieldErrors) MarshalJSON() ([]byte, error) { return json.Marshal(es.Body()) }

// MarathonPath turns "container.portMappings[1].containerPort" into
// Marathon's "/container/portMappings(1)/containerPort"; "" becomes "/".
func MarathonPath(p string) string {
	if p == "" {
		return "/"
	}
	r := strings.NewReplacer(".", "/", "[", "(", "]", ")")
	return "/" + r.Replace(p)
}

package job

import (
	"bytes"
	"encoding/json"
	"errors"
)

// envRef is the JSON of an env variable that references a secret.
type envRef struct {
	Secret string `json:"secret"`
}

// MarshalJSON renders a plain value as a JSON string and a secret reference
// as {"secret": "name"}.
func (v EnvVar) MarshalJSON() ([]byte, error) {
	if v.Secret != "" {
		return json.Marshal(envRef{Secret: v.Secret})
	}
	return json.Marshal(v.Value)
}

// UnmarshalJSON accepts a string or {"secret": "name"} and nothing else.
func (v *EnvVar) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*v = EnvVar{Value: s}
		return nil
	}
	if len(data) > 0 && data[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		var r envRef
		if err := dec.Decode(&r); err != nil {
			return errors.New(`an env variable must be a string or {"secret": "<name>"}`)
		}
		*v = EnvVar{Secret: r.Secret}
		return nil
	}
	return errors.New(`an env variable must be a string or {"secret": "<name>"}`)
}

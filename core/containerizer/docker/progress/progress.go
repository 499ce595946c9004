// Package progress reads the JSON progress streams the Docker daemon sends
// for image pulls and builds, where failures arrive in-band.
package progress

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Error reads a daemon progress stream (pull, build) to its end and returns
// the error it reports, if any.
func Error(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("progress stream: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

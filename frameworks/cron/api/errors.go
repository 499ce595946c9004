package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
)

// Message is Metronome's body for errors other than 422.
type Message struct {
	Message string `json:"message"`
}

// invalidBody is Metronome's 422 body.
type invalidBody struct {
	Message string            `json:"message"`
	Details []job.ErrorDetail `json:"details"`
}

// invalidMessage is Metronome's message of every 422.
const invalidMessage = "Object is not valid"

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(Message{Message: fmt.Sprintf("encode answer: %v", err)})
	}
	writeRaw(w, status, data)
}

func writeRaw(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Message{Message: msg})
}

// writeFieldErrors answers 422 with Metronome's body naming every bad field.
func writeFieldErrors(w http.ResponseWriter, errs job.FieldErrors) {
	d := []job.ErrorDetail(errs)
	if d == nil {
		d = []job.ErrorDetail{}
	}
	writeJSON(w, http.StatusUnprocessableEntity, invalidBody{Message: invalidMessage, Details: d})
}

// fieldError is one 422 detail.
func fieldError(path, msg string) job.FieldErrors {
	return job.FieldErrors{{Path: path, Errors: []string{msg}}}
}

// badParam answers 400 naming the query parameter.
func badParam(w http.ResponseWriter, name, value, want string) {
	writeMessage(w, http.StatusBadRequest, fmt.Sprintf("query parameter %s: %q is not %s", name, value, want))
}

// writeError answers a Backend error with the status its kind calls for.
// subject names what the request was about, for the 404 message
// ("Job 'x'").
func writeError(w http.ResponseWriter, err error, subject string) {
	var fe job.FieldErrors
	var conflict *core.ConflictError
	switch {
	case errors.As(err, &fe):
		writeFieldErrors(w, fe)
	case errors.As(err, &conflict):
		writeMessage(w, http.StatusConflict, conflict.Error())
	case errors.Is(err, core.ErrNotFound):
		if subject == "" {
			writeMessage(w, http.StatusNotFound, err.Error())
			return
		}
		writeMessage(w, http.StatusNotFound, subject+" does not exist")
	case errors.Is(err, ErrUnavailable):
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeMessage(w, http.StatusInternalServerError, err.Error())
	}
}

// boolParam reads an optional boolean query parameter; ok is false after a
// 400 was written.
func boolParam(w http.ResponseWriter, r *http.Request, name string) (v, ok bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, true
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		badParam(w, name, s, "true or false")
		return false, false
	}
	return b, true
}

package api

import (
	"errors"
	"net/http"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
	"agora/frameworks/httpapi"
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

// writeFieldErrors answers 422 with Metronome's body naming every bad field.
func writeFieldErrors(w http.ResponseWriter, errs job.FieldErrors) {
	d := []job.ErrorDetail(errs)
	if d == nil {
		d = []job.ErrorDetail{}
	}
	httpapi.WriteJSON(w, http.StatusUnprocessableEntity, invalidBody{Message: invalidMessage, Details: d})
}

// fieldError is one 422 detail.
func fieldError(path, msg string) job.FieldErrors {
	return job.FieldErrors{{Path: path, Errors: []string{msg}}}
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
		httpapi.WriteMessage(w, http.StatusConflict, conflict.Error())
	case errors.Is(err, core.ErrNotFound):
		if subject == "" {
			httpapi.WriteMessage(w, http.StatusNotFound, err.Error())
			return
		}
		httpapi.WriteMessage(w, http.StatusNotFound, subject+" does not exist")
	case errors.Is(err, ErrUnavailable):
		httpapi.WriteMessage(w, http.StatusServiceUnavailable, err.Error())
	default:
		httpapi.WriteMessage(w, http.StatusInternalServerError, err.Error())
	}
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
)

// Message is Marathon's body for errors other than 422.
type Message struct {
	Message string `json:"message"`
	// Deployments lists the deployments locking an app (409 only).
	Deployments []DeploymentRef `json:"deployments,omitempty"`
}

// DeploymentRef names a deployment, as app JSON and 409 bodies list them.
type DeploymentRef struct {
	ID string `json:"id"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(Message{Message: fmt.Sprintf("encode answer: %v", err)})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Message{Message: msg})
}

// writeFieldErrors answers 422 with Marathon's body naming every bad field.
func writeFieldErrors(w http.ResponseWriter, errs app.FieldErrors) {
	writeJSON(w, http.StatusUnprocessableEntity, errs.Body())
}

// badParam answers 400 naming the query parameter.
func badParam(w http.ResponseWriter, name, value, want string) {
	writeMessage(w, http.StatusBadRequest, fmt.Sprintf("query parameter %s: %q is not %s", name, value, want))
}

// writeError answers a Backend error with the status its kind calls for.
// subject names what the request was about, for the 404 message
// ("App '/x'").
func writeError(w http.ResponseWriter, err error, subject string) {
	var fe app.FieldErrors
	var locked *core.LockedError
	switch {
	case errors.As(err, &fe):
		writeFieldErrors(w, fe)
	case errors.As(err, &locked):
		m := Message{Message: "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'."}
		for _, id := range locked.DeploymentIDs {
			m.Deployments = append(m.Deployments, DeploymentRef{ID: id})
		}
		writeJSON(w, http.StatusConflict, m)
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

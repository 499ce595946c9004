package api

import (
	"errors"
	"net/http"

	"agora/frameworks/httpapi"
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

// writeFieldErrors answers 422 with Marathon's body naming every bad field.
func writeFieldErrors(w http.ResponseWriter, errs app.FieldErrors) {
	httpapi.WriteJSON(w, http.StatusUnprocessableEntity, errs.Body())
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
		httpapi.WriteJSON(w, http.StatusConflict, m)
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

package main

import (
	"context"
	"net/http"

	"agora/core/store"
	"agora/frameworks/cron"
	cronapi "agora/frameworks/cron/api"
)

// cronHost serves the cron framework's Metronome API (/v1/jobs) on the
// master's port, for whichever cron framework runs in this process.
type cronHost struct {
	enabled bool
	api     mount
	// Set by the host like servicesHost's: how the framework reaches the
	// master, who it is there, who may do what through its API, and the
	// user its tasks run as unless a job names one.
	http      *http.Client
	principal string
	authz     cronapi.Authorizer
	user      string
}

func (c *cronHost) register(fs serverFlags) {
	fs.BoolVar(&c.enabled, "cron", true, "run the cron framework (Metronome API under /v1/jobs) inside this process")
	c.api.prefixes = []string{"/v1/jobs", "/v1/info", "/v1/ping"}
}

// run runs a cron framework against the master at masterURL, with its
// state in st, serving its API until ctx ends.
func (c *cronHost) run(ctx context.Context, masterURL string, st store.Store, logf func(string, ...any)) {
	if !c.enabled {
		return
	}
	f, err := cron.New(cron.Config{Master: masterURL, HTTP: c.http, Principal: c.principal, User: c.user, Store: st, Logf: logf})
	if err != nil {
		logf("cron: %v", err)
		return
	}
	c.api.set(cronapi.New(f, cronapi.Options{Authorizer: c.authz, Principal: principalOf, DefaultUser: c.user}))
	defer c.api.set(nil)
	f.Run(ctx)
}

// Package api serves the services framework's Marathon REST API v2 (/v2/apps,
// /v2/tasks, /v2/groups, /v2/deployments, /v2/queue, /v2/events, /v2/info,
// /v2/ping) over a Backend, and holds Client, the Go client of that API used
// by the `agora app` CLI and end-to-end tests.
//
// Contract:
//   - Shapes follow Marathon's documentation: app JSON as app.App renders it
//     plus Marathon's read-only fields, Marathon's error bodies (422 with
//     details naming each bad field, 404 and 409 with a message, 409 listing
//     the deployments that lock an app), Marathon's event JSON over
//     Server-Sent Events.
//   - Agora's additions are marked as such: ?dryRun=true on POST and PUT
//     (the plan, nothing changed), `reasons` in /v2/queue (which constraint
//     or resource turned each agent down), and a deployment's status.
//   - The handler decides nothing about apps: every write goes to the
//     Backend, whose errors choose the status (core.ErrNotFound 404,
//     *core.LockedError 409, app.FieldErrors 422, ErrUnavailable 503, other
//     500).
//   - The API acts for the calling principal (Options.Principal), as the
//     Authorizer allows: lists show only the apps it may view, a read of
//     another app is a 403, and a write needs manage_apps on every app it
//     touches and run_tasks as each one's user; a refused write changes
//     nothing. Answers never show a secret's value, only mesos.SecretMask.
//   - The event stream never blocks the framework: each client has a bounded
//     buffer, and a client that falls behind it is disconnected.
package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"agora/frameworks/httpapi"
	"agora/frameworks/services/app"
	"agora/frameworks/services/core"
	"agora/frameworks/services/deploy"
)

// Backend is what the API needs from the running framework. It is defined
// here and implemented by the framework's driver.
type Backend interface {
	// Apps returns the current definitions, sorted by id.
	Apps() []*app.App
	// Instances returns the app's instances; "" returns every app's.
	Instances(appID string) []core.Instance
	Deployments() []deploy.Deployment
	Queue() []core.QueueEntry
	// Versions lists an app's stored versions, newest first.
	Versions(ctx context.Context, appID string) ([]string, error)
	Version(ctx context.Context, appID, version string) (*app.App, error)

	// Writes return errors wrapping core.ErrNotFound, *core.LockedError,
	// app.FieldErrors or ErrUnavailable where those apply.
	PutApp(ctx context.Context, a *app.App, force bool) (deploymentID string, err error)
	// Preview says what PutApp would do, changing nothing.
	Preview(ctx context.Context, a *app.App) (core.Plan, error)
	DeleteApp(ctx context.Context, id string, force bool) (deploymentID string, err error)
	Restart(ctx context.Context, id string, force bool) (deploymentID string, err error)
	// KillTasks kills the given tasks of the app; with scale the app's
	// instance count goes down by as many and a deployment id is returned.
	KillTasks(ctx context.Context, appID string, taskIDs []string, scale bool) (deploymentID string, err error)
	// CancelDeployment rolls the deployment back (returning the rollback's
	// id) or, with force, only stops it.
	CancelDeployment(ctx context.Context, id string, force bool) (rollbackID string, err error)
	ResetDelay(ctx context.Context, appID string) error

	// Subscribe streams the framework's events until ctx ends, then closes
	// the channel.
	Subscribe(ctx context.Context) <-chan core.Event
	Info() Info
}

// ErrUnavailable is wrapped by Backend errors meaning the framework cannot
// answer yet (not registered or not recovered): the API answers 503.
var ErrUnavailable = errors.New("services framework is not available yet")

// Info is /v2/info: who the framework is and where its leader answers.
type Info struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	FrameworkID string `json:"frameworkId"`
	// Elected is true on the leading master; Leader is its host:port.
	Elected         bool            `json:"elected"`
	Leader          string          `json:"leader"`
	MarathonConfig  MarathonConfig  `json:"marathon_config"`
	HTTPConfig      HTTPConfig      `json:"http_config"`
	ZookeeperConfig ZookeeperConfig `json:"zookeeper_config"`
}

// MarathonConfig is /v2/info's marathon_config, the framework's settings.
type MarathonConfig struct {
	Master          string  `json:"master"`
	FrameworkName   string  `json:"framework_name"`
	Hostname        string  `json:"hostname"`
	MesosRole       string  `json:"mesos_role,omitempty"`
	MesosUser       string  `json:"mesos_user,omitempty"`
	Checkpoint      bool    `json:"checkpoint"`
	FailoverTimeout float64 `json:"failover_timeout"` // seconds
	// LocalPortMin and LocalPortMax bound the service ports assigned to apps.
	LocalPortMin int `json:"local_port_min,omitempty"`
	LocalPortMax int `json:"local_port_max,omitempty"`
}

// HTTPConfig is /v2/info's http_config.
type HTTPConfig struct {
	HTTPPort  int `json:"http_port"`
	HTTPSPort int `json:"https_port,omitempty"`
}

// ZookeeperConfig is /v2/info's zookeeper_config; empty without ZooKeeper.
type ZookeeperConfig struct {
	ZK string `json:"zk,omitempty"`
}

// Options tune the handler. Zero fields take the defaults.
type Options struct {
	// MaxBodyBytes bounds request bodies (default 1 MiB); larger ones get
	// 413.
	MaxBodyBytes int64
	// EventBuffer is how many events a /v2/events client may fall behind
	// before it is disconnected (default 1024).
	EventBuffer int
	// KeepAlive is the interval of SSE comment lines that keep idle
	// connections open through proxies (default 15 s).
	KeepAlive time.Duration
	// WriteTimeout bounds each write to an event stream client (default
	// 10 s): a client that stops reading is disconnected.
	WriteTimeout time.Duration
	// Now is the clock for versions and delays in answers (default
	// time.Now).
	Now func() time.Time
	// Authorizer decides what each request's principal may do (nil allows
	// everything): view_apps filters every list and guards every read of
	// an app, manage_apps and run_tasks guard every write.
	Authorizer Authorizer
	// Principal names who a request acts for (nil: "" for everyone).
	Principal func(*http.Request) string
}

// Validate reports the first bad field.
func (o Options) Validate() error {
	switch {
	case o.MaxBodyBytes < 0:
		return fmt.Errorf("api options: MaxBodyBytes %d is negative", o.MaxBodyBytes)
	case o.EventBuffer < 0:
		return fmt.Errorf("api options: EventBuffer %d is negative", o.EventBuffer)
	case o.KeepAlive < 0:
		return fmt.Errorf("api options: KeepAlive %s is negative", o.KeepAlive)
	case o.WriteTimeout < 0:
		return fmt.Errorf("api options: WriteTimeout %s is negative", o.WriteTimeout)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 1024
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// server is the handler behind New.
type server struct {
	b    Backend
	opts Options
	hub  *hub
	mux  *http.ServeMux
}

// New returns the handler of /v2/... over b. Invalid options (see
// Options.Validate) are replaced by the defaults.
func New(b Backend, opts Options) http.Handler {
	s := &server{b: b, opts: opts.withDefaults(), hub: newHub()}
	m := http.NewServeMux()
	m.HandleFunc("/v2/apps", s.apps)
	m.HandleFunc("/v2/apps/{rest...}", s.appsPath)
	m.HandleFunc("/v2/tasks", s.tasks)
	m.HandleFunc("/v2/groups", s.groups)
	m.HandleFunc("/v2/groups/{rest...}", s.groups)
	m.HandleFunc("/v2/deployments", s.deployments)
	m.HandleFunc("/v2/deployments/{id}", s.deployment)
	m.HandleFunc("/v2/queue", s.queue)
	m.HandleFunc("/v2/queue/{rest...}", s.queueDelay)
	m.HandleFunc("/v2/info", s.info)
	m.HandleFunc("/v2/ping", httpapi.Ping)
	m.HandleFunc("/v2/events", s.events)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteMessage(w, http.StatusNotFound, fmt.Sprintf("no such resource: %s", r.URL.Path))
	})
	s.mux = m
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *server) info(w http.ResponseWriter, r *http.Request) {
	if !httpapi.Allow(w, r, http.MethodGet) {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s.b.Info())
}

// version renders t as Marathon renders versions: UTC, milliseconds, Z.
func version(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"agora/frameworks/cron/core"
	"agora/frameworks/cron/job"
	"agora/frameworks/httpapi"
)

// Client calls the /v1 API of a cron framework. Request bodies are
// re-sendable, so a standby master's 307 redirect to the leader is followed
// with the body intact.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the API at baseURL ("http://host:5050").
// hc nil uses http.DefaultClient.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Error is an answer of the API other than 2xx.
type Error struct {
	Status  int
	Message string
	// Details name each bad field of a 422 as JSON pointers
	// ("/run/cpus").
	Details []job.ErrorDetail
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cron api: %d %s", e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for i, d := range e.Details {
		if i == 0 {
			b.WriteString(":")
		} else {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s: %s", d.Path, strings.Join(d.Errors, ", "))
	}
	return b.String()
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	resp, data, err := httpapi.Do(ctx, c.hc, c.base, method, path, q, body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, data)
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func decodeError(status int, data []byte) *Error {
	var body struct {
		Message string            `json:"message"`
		Details []job.ErrorDetail `json:"details"`
	}
	e := &Error{Status: status}
	if json.Unmarshal(data, &body) != nil {
		e.Message = strings.TrimSpace(string(data))
		return e
	}
	e.Message, e.Details = body.Message, body.Details
	return e
}

// DefinitionJSON turns a job file (JSON or YAML) into JSON and returns the
// job id it names.
func DefinitionJSON(raw []byte) ([]byte, string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, "", errors.New("job definition is empty")
	}
	if raw[0] != '{' {
		var v any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			return nil, "", fmt.Errorf("job definition: %w", err)
		}
		j, err := yamlJSON(v)
		if err != nil {
			return nil, "", fmt.Errorf("job definition: %w", err)
		}
		if raw, err = json.Marshal(j); err != nil {
			return nil, "", fmt.Errorf("job definition: %w", err)
		}
	}
	var head struct {
		ID any `json:"id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, "", fmt.Errorf("job definition: %w", err)
	}
	id, ok := head.ID.(string)
	if !ok || id == "" {
		return nil, "", errors.New("job definition: id: a non-empty string is required (e.g. \"id\": \"nightly-report\")")
	}
	return raw, id, nil
}

// yamlJSON makes a decoded YAML value encodable as JSON: string map keys,
// timestamps as RFC 3339 text.
func yamlJSON(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := yamlJSON(e)
			if err != nil {
				return nil, err
			}
			x[k] = c
		}
		return x, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := yamlJSON(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = c
		}
		return out, nil
	case []any:
		for i, e := range x {
			c, err := yamlJSON(e)
			if err != nil {
				return nil, err
			}
			x[i] = c
		}
		return x, nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	}
	return v, nil
}

// jobURL is the URL path of a job.
func jobURL(id string) string { return jobPathOf(id) }

// CreateJob creates the job defined by raw (the contents of a JSON or YAML
// file, sent as JSON); it fails with a 409 *Error when the job exists.
func (c *Client) CreateJob(ctx context.Context, raw []byte) (*JobView, error) {
	body, _, err := DefinitionJSON(raw)
	if err != nil {
		return nil, err
	}
	var v JobView
	if err := c.do(ctx, http.MethodPost, "/v1/jobs", nil, body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// PutJob replaces the job defined by raw (JSON or YAML); its schedules are
// kept when raw names none. It fails with a 404 *Error when the job does
// not exist.
func (c *Client) PutJob(ctx context.Context, raw []byte) (*JobView, error) {
	body, id, err := DefinitionJSON(raw)
	if err != nil {
		return nil, err
	}
	var v JobView
	if err := c.do(ctx, http.MethodPut, jobURL(id), nil, body, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func embedQuery(embed []string) url.Values {
	if len(embed) == 0 {
		return nil
	}
	return url.Values{"embed": {strings.Join(embed, ",")}}
}

// Embeds ?embed= takes.
const (
	EmbedActiveRuns     = "activeRuns"
	EmbedSchedules      = "schedules"
	EmbedHistory        = "history"
	EmbedHistorySummary = "historySummary"
	EmbedNextRuns       = "nextRuns"
)

// GetJob returns the job with its next runs and what embed asks for.
func (c *Client) GetJob(ctx context.Context, id string, embed ...string) (*JobView, error) {
	var v JobView
	if err := c.do(ctx, http.MethodGet, jobURL(id), embedQuery(embed), nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ListJobs returns the jobs the caller may view, with what embed asks for.
func (c *Client) ListJobs(ctx context.Context, embed ...string) ([]JobView, error) {
	var out []JobView
	if err := c.do(ctx, http.MethodGet, "/v1/jobs", embedQuery(embed), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteJob removes the job; with stopRuns its active runs are stopped,
// else active runs make it a 409 *Error. It returns the deleted definition.
func (c *Client) DeleteJob(ctx context.Context, id string, stopRuns bool) (*JobView, error) {
	var q url.Values
	if stopRuns {
		q = url.Values{"stopCurrentJobRuns": {"true"}}
	}
	var v JobView
	if err := c.do(ctx, http.MethodDelete, jobURL(id), q, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Schedules returns the job's schedules.
func (c *Client) Schedules(ctx context.Context, id string) ([]job.Schedule, error) {
	var out []job.Schedule
	err := c.do(ctx, http.MethodGet, jobURL(id)+"/schedules", nil, nil, &out)
	return out, err
}

// Schedule returns one schedule of the job.
func (c *Client) Schedule(ctx context.Context, id, scheduleID string) (*job.Schedule, error) {
	var sc job.Schedule
	if err := c.do(ctx, http.MethodGet, jobURL(id)+"/schedules/"+url.PathEscape(scheduleID), nil, nil, &sc); err != nil {
		return nil, err
	}
	return &sc, nil
}

// CreateSchedule adds a schedule to the job; a schedule with its id is a
// 409 *Error.
func (c *Client) CreateSchedule(ctx context.Context, id string, sc job.Schedule) (*job.Schedule, error) {
	body, err := json.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: %w", sc.ID, err)
	}
	var out job.Schedule
	if err := c.do(ctx, http.MethodPost, jobURL(id)+"/schedules", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutSchedule replaces the job's schedule sc.ID.
func (c *Client) PutSchedule(ctx context.Context, id string, sc job.Schedule) (*job.Schedule, error) {
	body, err := json.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: %w", sc.ID, err)
	}
	var out job.Schedule
	if err := c.do(ctx, http.MethodPut, jobURL(id)+"/schedules/"+url.PathEscape(sc.ID), nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSchedule removes one schedule of the job.
func (c *Client) DeleteSchedule(ctx context.Context, id, scheduleID string) error {
	return c.do(ctx, http.MethodDelete, jobURL(id)+"/schedules/"+url.PathEscape(scheduleID), nil, nil, nil)
}

// RunNow starts a run of the job and returns it.
func (c *Client) RunNow(ctx context.Context, id string) (core.Run, error) {
	var run core.Run
	err := c.do(ctx, http.MethodPost, jobURL(id)+"/runs", nil, nil, &run)
	return run, err
}

// Runs returns the job's active runs, newest first.
func (c *Client) Runs(ctx context.Context, id string) ([]core.Run, error) {
	var out []core.Run
	err := c.do(ctx, http.MethodGet, jobURL(id)+"/runs", nil, nil, &out)
	return out, err
}

// Run returns one run of the job, active or finished.
func (c *Client) Run(ctx context.Context, id, runID string) (core.Run, error) {
	var run core.Run
	err := c.do(ctx, http.MethodGet, jobURL(id)+"/runs/"+url.PathEscape(runID), nil, nil, &run)
	return run, err
}

// StopRun stops one active run of the job.
func (c *Client) StopRun(ctx context.Context, id, runID string) error {
	return c.do(ctx, http.MethodPost, jobURL(id)+"/runs/"+url.PathEscape(runID)+"/actions/stop", nil, nil, nil)
}

// History returns the job's history: its summary and finished runs.
func (c *Client) History(ctx context.Context, id string) (*HistoryView, error) {
	v, err := c.GetJob(ctx, id, EmbedHistory)
	if err != nil {
		return nil, err
	}
	if v.History == nil {
		return &HistoryView{}, nil
	}
	return v.History, nil
}

// Info returns /v1/info.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var info Info
	if err := c.do(ctx, http.MethodGet, "/v1/info", nil, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Ping checks that the API answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/v1/ping", nil, nil, nil)
}
